/**
 * `deno task bench [--json]`: training and inference images/s and achieved
 * GFLOP/s of both models' presets (by default the `hour` pair we train) on
 * every backend path, plus a native sgemm probe of the machine's limit and
 * each figure's share of it. The fast path runs each preset at its training
 * batch size, with the training loop's own step on augmented real images
 * (`src/bench/measure.ts`) and training's default threads (`--threads`,
 * default auto: 2 on a multi-core CPU), so its images/s is what training
 * gets; so does WebGPU on a hardware adapter. Each path runs in its own
 * process (a process has one tfjs backend); slow paths (the stock CPU
 * kernels, a software WebGPU adapter) run small batches and few steps.
 */
import {
  type BackendInfo,
  type BackendName,
  countsBetween,
  openBlas,
  selectBackend,
  webgpuCounts,
} from "../src/backend/select.ts";
import { numberFlag, parseFlags, runMain, UsageError } from "../src/cli/args.ts";
import { modelSpec, presetNames } from "../src/models/presets.ts";
import { measure, sgemmProbe, trainingBatchSize, trainingSteps } from "../src/bench/measure.ts";
import { resolveConfig, resolveThreads } from "../src/train/config.ts";
import type { ModelSpec } from "../src/models/presets.ts";

/** One result row, as `--json` prints it. */
export type BenchRecord =
  | {
    model: string;
    preset: string;
    path: string;
    mode: "train" | "infer";
    imagesPerSecond: number;
    gflops: number;
    batchSize: number;
    /** Training threads (1 for inference). */
    threads: number;
    steps: number;
    /** Images/s of the slowest and the fastest step. */
    stepRange: [number, number];
    /** `gflops` as a fraction of the sgemm probe's, when there is a probe. */
    sgemmShare?: number;
    /** webgpu training only: what one step costs besides arithmetic. */
    webgpu?: WebGPUStepProfile;
  }
  | { model: string; preset: string; path: string; mode: "train" | "infer"; error: string }
  | { path: "sgemm"; gflops: number; library: string };

/** What a WebGPU training step costs besides arithmetic, on any GPU. */
export interface WebGPUStepProfile {
  /** Per step, after the first: compute dispatches, GPU-to-host reads, uploads. */
  dispatches: number;
  readbacks: number;
  uploads: number;
  /** Shader compilations in steps 2 and 3 (the first compiles them all). */
  compilesAfterFirstStep: number;
}

/**
 * Three training steps as training takes them (augmented batch uploaded,
 * buffers such as batch-norm statistics kept out of the optimizer), counted.
 */
async function profileWebGPUSteps(spec: ModelSpec, batchSize: number): Promise<WebGPUStepProfile> {
  const stepper = await trainingSteps(spec, { batchSize });
  const counts = [];
  try {
    for (let s = 0; s < 3; s++) {
      const before = webgpuCounts();
      await stepper.step();
      counts.push(countsBetween(before, webgpuCounts()));
    }
  } finally {
    await stepper.dispose();
  }
  const last = counts[2];
  return {
    dispatches: last.dispatches,
    readbacks: last.readbacks,
    uploads: last.uploads,
    compilesAfterFirstStep: counts[1].compiles + counts[2].compiles,
  };
}

const PATHS = ["fast", "wasm", "cpu", "webgpu"] as const;
/**
 * Paths orders of magnitude slower than training wants get small batches: the
 * stock CPU kernels, and WebGPU on a software rasteriser (CI's lavapipe). A
 * hardware adapter is measured at the training batch, as it trains.
 */
function isSlow(info: BackendInfo): boolean {
  return info.name === "wasm" || info.name === "cpu" || info.softwareAdapter === true;
}

const KINDS = ["cnn", "vit"] as const;

async function child(
  path: BackendName,
  presets: string[],
  maxSeconds: number,
  batchSizeFlag: number | undefined,
  threadsFlag: number | "auto",
): Promise<void> {
  const info = await selectBackend(path, true);
  const slow = isSlow(info);
  // Training's threads on the fast path; the stock paths stay on one, the
  // baseline that earlier records measured.
  const threadsOf = (spec: ModelSpec, batchSize: number) =>
    path !== "fast" ? 1 : resolveThreads(
      resolveConfig(spec.kind, { preset: spec.preset, batchSize, threads: threadsFlag }),
      info.name,
    );
  for (const preset of presets) {
    for (const model of KINDS.filter((k) => presetNames(k).includes(preset))) {
      for (const mode of ["train", "infer"] as const) {
        const spec = modelSpec(model, preset);
        const batchSize = slow
          ? (mode === "train" ? 8 : 32)
          : batchSizeFlag ?? trainingBatchSize(spec);
        let record: BenchRecord;
        try {
          const r = await measure(spec, mode, {
            batchSize,
            steps: slow ? 2 : 10,
            maxSeconds,
            threads: threadsOf(spec, batchSize),
          });
          record = { model, preset, path: info.name, ...r };
          if (path === "webgpu" && mode === "train") {
            record.webgpu = await profileWebGPUSteps(spec, batchSize);
          }
        } catch (e) {
          record = {
            model,
            preset,
            path: info.name,
            mode,
            error: (e as Error).message.split("\n")[0],
          };
        }
        console.log(JSON.stringify(record));
      }
    }
  }
}

async function runChild(
  path: string,
  presets: string[],
  maxSeconds: number,
  batchSize: number | undefined,
  threads: number | "auto",
  timeoutSeconds: number,
): Promise<BenchRecord[]> {
  const args = [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    "--v8-flags=--no-liftoff",
    new URL(import.meta.url).pathname,
    "--child",
    path,
    "--presets",
    presets.join(","),
    "--max-seconds",
    String(maxSeconds),
    ...(batchSize ? ["--batch-size", String(batchSize)] : []),
    "--threads",
    String(threads),
  ];
  const proc = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
    .spawn();
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutSeconds * 1000);
  const out = await proc.output();
  clearTimeout(timer);
  const records = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
  if (!out.success && records.length === 0) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ??
      `exit ${out.code}`;
    return [{
      model: "*",
      preset: presets.join(","),
      path,
      mode: "train",
      error: out.signal ? `timed out after ${timeoutSeconds}s` : why,
    }];
  }
  return records;
}

function table(records: BenchRecord[]): string {
  const lines = [
    "| path | model | preset | mode | batch | threads | images/s | steps (range) | GFLOP/s | of sgemm |",
    "|---|---|---|---|---:|---:|---:|---|---:|---:|",
  ];
  for (const r of records) {
    if ("error" in r) {
      lines.push(
        `| ${r.path} | ${r.model} | ${r.preset} | ${r.mode} | | | error: ${r.error} | | | |`,
      );
    } else if ("model" in r) {
      const [lo, hi] = r.stepRange.map((x) => x.toFixed(1));
      const share = r.sgemmShare === undefined ? "" : `${(100 * r.sgemmShare).toFixed(1)}%`;
      lines.push(
        `| ${r.path} | ${r.model} | ${r.preset} | ${r.mode} | ${r.batchSize} | ${r.threads} | ${
          r.imagesPerSecond.toFixed(1)
        } | ${r.steps} (${lo}-${hi}) | ${r.gflops.toFixed(1)} | ${share} |`,
      );
    } else lines.push(`| sgemm (${r.library}) | | | | | | | | ${r.gflops.toFixed(1)} | 100% |`);
  }
  const plural = (n: number, word: string) =>
    `${n} ${word}${n === 1 ? "" : word.endsWith("h") ? "es" : "s"}`;
  for (const r of records) {
    if (!("webgpu" in r) || !r.webgpu) continue;
    const w = r.webgpu;
    lines.push(
      `${lines.at(-1)?.startsWith("|") ? "\n" : ""}webgpu ${r.model} ${r.preset} training step ` +
        `(batch ${r.batchSize}): ${plural(w.dispatches, "dispatch")}, ` +
        `${plural(w.readbacks, "read-back")}, ${plural(w.uploads, "upload")}, ` +
        `${plural(w.compilesAfterFirstStep, "shader compilation")} after the first step`,
    );
  }
  return lines.join("\n");
}

/** The speed goals of the CPU-speed issue, checked on these records. */
export function goals(records: BenchRecord[]): string[] {
  const ok = (r: BenchRecord): r is Extract<BenchRecord, { imagesPerSecond: number }> =>
    "imagesPerSecond" in r;
  const find = (model: string, preset: string, path: string) =>
    records.filter(ok).find((r) =>
      r.model === model && r.preset === preset && r.path === path && r.mode === "train"
    );
  const probe = records.find((r) => r.path === "sgemm" && "gflops" in r) as
    | { gflops: number }
    | undefined;
  const lines: string[] = [];
  for (const r of records.filter(ok).filter((r) => r.path === "fast" && r.mode === "train")) {
    const cpu = find(r.model, r.preset, "cpu");
    const parts = [`${r.model} ${r.preset}, fast path training:`];
    if (cpu) {
      parts.push(`${(r.imagesPerSecond / cpu.imagesPerSecond).toFixed(1)}x stock cpu (goal 20x)`);
    }
    if (probe) {
      parts.push(
        `${((100 * r.gflops) / probe.gflops).toFixed(1)}% of the sgemm probe (goal 40%)`,
      );
    }
    lines.push(parts.join(" "));
  }
  return lines;
}

async function main(args: string[]): Promise<void> {
  const { values: v } = parseFlags({
    args,
    strict: true,
    options: {
      json: { type: "boolean" },
      paths: { type: "string" },
      presets: { type: "string" },
      "max-seconds": { type: "string" },
      "batch-size": { type: "string" },
      threads: { type: "string" },
      child: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (v.help) {
    return console.log(
      `Usage: deno task bench [--json] [--paths ${PATHS.join(",")}] [--presets hour,small]
  [--max-seconds 30] [--batch-size N (fast path, hardware WebGPU; default: each preset's training batch)]
  [--threads N|auto (training threads on the fast path, as training takes them; default auto)]`,
    );
  }
  const presets = (v.presets ?? "hour").split(",");
  for (const p of presets) {
    if (!KINDS.some((k) => presetNames(k).includes(p))) {
      throw new UsageError(
        `--presets: no model has a preset "${p}"; choose from ${
          [...new Set(KINDS.flatMap((k) => presetNames(k)))].join(", ")
        }`,
      );
    }
  }
  const maxSeconds = numberFlag("max-seconds", v["max-seconds"], { min: 1 }) ?? 30;
  const batchSize = numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 });
  const threads = v.threads === undefined || v.threads === "auto"
    ? "auto"
    : numberFlag("threads", v.threads, { integer: true, min: 1 })!;
  if (v.child) {
    return await child(v.child as BackendName, presets, maxSeconds, batchSize, threads);
  }
  const paths = (v.paths ?? PATHS.join(",")).split(",");
  for (const p of paths) {
    if (!PATHS.includes(p as typeof PATHS[number])) {
      throw new UsageError(`--paths: unknown path "${p}"`);
    }
  }
  const records: BenchRecord[] = [];
  const blas = openBlas();
  const probe = blas ? sgemmProbe(blas.sgemm) : undefined;
  if (blas) records.push({ path: "sgemm", gflops: probe!, library: blas.library });
  for (const path of paths) {
    if (!v.json) console.error(`bench: ${path} ...`);
    // Per preset: four measurements of up to maxSeconds, each after two
    // warm-up steps that at batch 256 on a shared machine take as long again.
    const timeout = 12 * maxSeconds * presets.length + 120;
    for (const r of await runChild(path, presets, maxSeconds, batchSize, threads, timeout)) {
      records.push("gflops" in r && probe ? { ...r, sgemmShare: r.gflops / probe } : r);
    }
  }
  console.log(
    v.json ? JSON.stringify(records) : `${table(records)}\n\n${goals(records).join("\n")}`,
  );
}

if (import.meta.main) await runMain(() => main(Deno.args));
