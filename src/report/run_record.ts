/**
 * A finished training run as the comparison reads it back from its folder:
 * `config.json`, `summary.json` and `metrics.jsonl`.
 *
 * @module
 */
import { join } from "node:path";
import type { TrainConfig } from "../train/config.ts";
import type { EpochMetrics, TrainSummary } from "../train/records.ts";

/** One finished run. */
export interface RunRecord {
  /** The run folder. */
  dir: string;
  /** Its `config.json`. */
  config: TrainConfig;
  /** Its `summary.json`. */
  summary: TrainSummary;
  /** Its `metrics.jsonl`, one entry per epoch. */
  metrics: EpochMetrics[];
}

async function readText(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${path} is missing: is "${dir}" a finished training run?`);
    }
    throw new Error(`Cannot read ${path}: ${(e as Error).message}`);
  }
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${path} is not valid JSON (${
        (e as Error).message
      }); rerun the training or remove the folder`,
    );
  }
}

function parseObject(path: string, text: string): Record<string, unknown> {
  const value = parseJson(path, text);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`${path} should hold a JSON object; rerun the training or remove the folder`);
  }
  return value as Record<string, unknown>;
}

/**
 * Read a finished run folder (config.json, summary.json, metrics.jsonl).
 * Every error names the file that is missing or malformed.
 */
export async function readRun(dir: string): Promise<RunRecord> {
  // In order, so the first missing file is the one named.
  const config = await readText(dir, "config.json"),
    summary = await readText(dir, "summary.json"),
    metrics = await readText(dir, "metrics.jsonl");
  const summaryPath = join(dir, "summary.json");
  const record = {
    dir,
    config: parseObject(join(dir, "config.json"), config) as unknown as TrainConfig,
    summary: parseObject(summaryPath, summary) as unknown as TrainSummary,
    metrics: metrics.split("\n").filter((l) => l.trim()).map((l, i) =>
      parseObject(`${join(dir, "metrics.jsonl")} line ${i + 1}`, l) as unknown as EpochMetrics
    ),
  };
  for (const key of ["params", "testAccuracy", "trainImages", "testImages"] as const) {
    if (typeof record.summary[key] !== "number") {
      throw new Error(`${summaryPath} has no number "${key}"; is the run finished?`);
    }
  }
  return record;
}
