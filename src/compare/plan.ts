/**
 * What a comparison is: its options, the plan it saves as `compare.json` to
 * resume, and the training config of each model and seed (through
 * `resolveConfig`, like every run).
 *
 * @module
 */
import { join } from "node:path";
import type { BackendName } from "../backend/select.ts";
import { resolveConfig, type TrainConfig } from "../train/config.ts";
import type { TrainOptions } from "../train/loop.ts";
import type { ModelId } from "./models.ts";

/** What to compare. */
export interface CompareOptions {
  /** The models; the first CNN-SA and the first ViT are the matched pair. */
  models: ModelId[];
  /** Epochs of every run (the primary budget: every model sees the same images). */
  epochs: number;
  /** Alternative budget: training minutes per run (0: none). */
  minutes: number;
  /** Runs per model, with seeds 0 .. seeds-1. */
  seeds: number;
  /** Images per step; by default each preset's own (256 for the hour presets). */
  batchSize?: number;
  /**
   * Training threads of every run (see `TrainConfig.threads`); absent: 1,
   * which comparisons saved before threads existed keep.
   */
  threads?: number | "auto";
  /** `sample`, or a folder with the CIFAR-10 binary files. */
  data: string;
  /** Use only the first this many training images. */
  trainSize?: number;
  /** Use only the first this many test images. */
  testSize?: number;
  /** The tfjs backend. */
  backend: BackendName;
  /** The folder the report, results and plots go to. */
  out: string;
  /**
   * Never continue an existing `out`: a new comparison gets the first free
   * `out-2`, `out-3`, ... (for default, timestamped folders: two comparisons
   * started in the same second get different folders).
   */
  uniqueOut?: boolean;
  /** Reuse finished run folders instead of training. */
  runs?: string[];
  /** Finished runs shown beside the comparison at their own budget (e.g. 60-minute runs). */
  reference?: string[];
  /**
   * After the runs, measure each model's training speed alone for this many
   * steps (0 or absent: no measurement; the report then quotes only the
   * runs' own rates).
   */
  speedSteps?: number;
  /** Silence progress. */
  quiet?: boolean;
  /**
   * Once aborted, the run under way stops after its step with a checkpoint
   * and compare throws {@linkcode RunInterruptedError}; `--resume` continues.
   */
  signal?: AbortSignal;
  /** Minutes between mid-epoch checkpoints (see `TrainOptions.checkpointMinutes`). */
  checkpointMinutes?: number;
}

/** The training options every run of a comparison shares. */
export type HowToTrain = Pick<TrainOptions, "quiet" | "signal" | "checkpointMinutes">;

/** The settings that make a comparison; saved as `compare.json` to resume it. */
export type Plan = Omit<
  CompareOptions,
  "backend" | "out" | "uniqueOut" | "runs" | "reference" | "speedSteps" | "quiet"
>;

export function planOf(o: CompareOptions): Plan {
  return {
    models: o.models,
    epochs: o.epochs,
    minutes: o.minutes,
    seeds: o.seeds,
    batchSize: o.batchSize,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    data: o.data,
    trainSize: o.trainSize,
    testSize: o.testSize,
  };
}

/** The plan saved in a comparison folder, or null when there is none. */
export async function readPlan(dir: string): Promise<Plan | null> {
  const path = join(dir, "compare.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    return JSON.parse(text) as Plan;
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message})`);
  }
}

/** The training config of one model and seed in a comparison. */
export function runConfig(o: CompareOptions, m: ModelId, seed: number): TrainConfig {
  return resolveConfig(m.kind, {
    preset: m.preset,
    epochs: o.epochs,
    minutes: o.minutes,
    batchSize: o.batchSize,
    threads: o.threads,
    seed,
    data: o.data,
    trainSize: o.trainSize,
    testSize: o.testSize,
    backend: o.backend,
    out: join(o.out, `${m.kind}-${m.preset}-seed${seed}`),
  });
}
