/**
 * Numbers a comparison reports: each model's results over seeds (mean ±
 * sample std) and paired differences between two models over the seeds
 * they share (seed s gives every model the same data order and
 * augmentation, so the per-seed difference removes that source of noise).
 *
 * @module
 */
import type { ModelKind } from "../models/presets.ts";
import { ttaMode } from "../train/evaluate.ts";
import type { RunRecord } from "./run_record.ts";

/** mean and (sample) standard deviation. */
export interface Stat {
  /** Mean. */
  mean: number;
  /** Sample standard deviation (0 for one value). */
  std: number;
  /** Number of values. */
  n: number;
}

/** Mean and sample standard deviation of `xs`. */
export function stat(xs: number[]): Stat {
  const n = xs.length, mean = xs.reduce((a, b) => a + b, 0) / Math.max(n, 1);
  const std = n > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** A model's training speed measured alone, after its runs. */
export interface MeasuredSpeed {
  /** The backend measured (`fast`, `wasm`, `cpu`, `webgpu`). */
  backend: string;
  /** Images per step: the batch its runs trained with. */
  batchSize: number;
  /** Training steps measured (after warm-up). */
  steps: number;
  /** Images per second over all measured steps. */
  imagesPerSecond: number;
  /** Images/s of the slowest and the fastest step. */
  stepRange: [number, number];
}

/** Per-model aggregate over its seeds. */
export interface ModelResult {
  /** `kind:preset`, e.g. `cnn:hour`. */
  key: string;
  /** Which model. */
  model: ModelKind;
  /** Its preset. */
  preset: string;
  /** Whether the model has self-attention layers (every ViT does). */
  attention: boolean;
  /** Parameter count. */
  params: number;
  /** Forward FLOPs per image. */
  flopsPerImage: number;
  /** The backend the runs used. */
  backend: string;
  /** Epochs per run. */
  epochs: Stat;
  /** Training seconds per run. */
  trainSeconds: Stat;
  /** Training throughput per run (what each run got, on whatever else the machine did). */
  imagesPerSecond: Stat;
  /** Training speed measured alone after the runs, when the comparison asked for it. */
  measured?: MeasuredSpeed;
  /** Final test accuracy with the run's test-time augmentation (`tta`). */
  finalTestAccuracy: Stat;
  /** Final test accuracy from one view. */
  finalTestAccuracyPlain: Stat;
  /** The views `finalTestAccuracy` averaged. */
  tta: string;
  /** Best per-epoch test accuracy per run. */
  bestTestAccuracy: Stat;
  /** Seed of each run, in the order of `runs`. */
  seeds: number[];
  /** Final test accuracy of each run (with `tta`), in the order of `runs`. */
  seedAccuracy: number[];
  /** Final one-view test accuracy of each run, in the order of `runs`. */
  seedAccuracyPlain: number[];
  /** Per-class final test accuracy, averaged over runs. */
  perClassAccuracy: number[];
  /** Confusion counts `[label][predicted]`, summed over runs. */
  confusion: number[][];
  /** The run folders. */
  runs: string[];
}

/**
 * The best per-epoch (one-view) test accuracy of a run, from its metrics:
 * summaries written before 28 November 2026 counted the final test-time
 * augmented accuracy in their `bestTestAccuracy` too.
 */
function bestEpochAccuracy(r: RunRecord): number {
  return r.metrics.length > 0
    ? Math.max(...r.metrics.map((m) => m.testAccuracy))
    : r.summary.bestTestAccuracy;
}

/** `kind:preset` of a run. */
export function runKey(r: RunRecord): string {
  return `${r.config.model}:${r.config.preset}`;
}

/**
 * Aggregate the runs of one model. `attention` says whether the model has
 * self-attention layers (the caller knows the config).
 */
export function aggregate(runs: RunRecord[], attention: boolean): ModelResult {
  const s0 = runs[0].summary, classes = s0.perClassAccuracy.length;
  const confusion = Array.from(
    { length: classes },
    (_, i) =>
      Array.from(
        { length: classes },
        (_, j) => runs.reduce((s, r) => s + r.summary.confusion[i][j], 0),
      ),
  );
  return {
    key: runKey(runs[0]),
    model: runs[0].config.model,
    preset: runs[0].config.preset,
    attention,
    params: s0.params,
    flopsPerImage: s0.flopsPerImage,
    backend: s0.backendDescription ?? s0.backend,
    epochs: stat(runs.map((r) => r.summary.epochs)),
    trainSeconds: stat(runs.map((r) => r.summary.trainSeconds)),
    imagesPerSecond: stat(runs.map((r) => r.summary.imagesPerSecond)),
    finalTestAccuracy: stat(runs.map((r) => r.summary.testAccuracy)),
    finalTestAccuracyPlain: stat(
      runs.map((r) => r.summary.testAccuracyPlain ?? r.summary.testAccuracy),
    ),
    tta: ttaMode(s0.tta ?? "none"),
    bestTestAccuracy: stat(runs.map(bestEpochAccuracy)),
    seeds: runs.map((r) => r.config.seed),
    seedAccuracy: runs.map((r) => r.summary.testAccuracy),
    seedAccuracyPlain: runs.map((r) => r.summary.testAccuracyPlain ?? r.summary.testAccuracy),
    perClassAccuracy: Array.from(
      { length: classes },
      (_, c) => stat(runs.map((r) => r.summary.perClassAccuracy[c])).mean,
    ),
    confusion,
    runs: runs.map((r) => r.dir),
  };
}

/** Two-sided 95% critical values of Student's t for 1..10 degrees of freedom. */
const T_CRITICAL_95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

/** A paired comparison of two models over the seeds both ran. */
export interface PairedResult {
  /** Keys of the two models; differences are `a - b`. */
  a: string;
  /** The second model's key. */
  b: string;
  /** What the pair shows: the matched comparison, or an ablation. */
  role: "matched" | "ablation";
  /** The seeds both models ran. */
  seeds: number[];
  /** Per-seed differences of final test accuracy (with TTA). */
  diffs: number[];
  /** Mean and spread of `diffs`. */
  difference: Stat;
  /** Per-seed differences of final one-view test accuracy. */
  diffsPlain: number[];
  /** Mean and spread of `diffsPlain`. */
  differencePlain: Stat;
  /** Paired t statistic of `diffs` (NaN below two seeds or with zero spread). */
  t: number;
  /** Two-sided 95% critical value for `seeds.length - 1` degrees of freedom. */
  tCritical: number;
  /** |t| above `tCritical`: the mean difference exceeds its seed-to-seed spread. */
  significant: boolean;
  /** Seeds whose difference has the sign of the mean difference. */
  sameSign: number;
}

/** Pair the runs of `a` and `b` by seed and compare their final accuracies. */
export function paired(a: ModelResult, b: ModelResult, role: PairedResult["role"]): PairedResult {
  const seeds = a.seeds.filter((s) => b.seeds.includes(s));
  const at = (m: ModelResult, xs: number[], s: number) => xs[m.seeds.indexOf(s)];
  const diffs = seeds.map((s) => at(a, a.seedAccuracy, s) - at(b, b.seedAccuracy, s));
  const diffsPlain = seeds.map((s) =>
    at(a, a.seedAccuracyPlain, s) - at(b, b.seedAccuracyPlain, s)
  );
  const difference = stat(diffs);
  const t = seeds.length > 1 && difference.std > 0
    ? difference.mean / (difference.std / Math.sqrt(seeds.length))
    : NaN;
  const tCritical = T_CRITICAL_95[Math.min(seeds.length - 2, T_CRITICAL_95.length - 1)] ?? NaN;
  return {
    a: a.key,
    b: b.key,
    role,
    seeds,
    diffs,
    difference,
    diffsPlain,
    differencePlain: stat(diffsPlain),
    t,
    tCritical,
    significant: Number.isFinite(t) && Math.abs(t) > tCritical,
    sameSign: diffs.filter((d) => Math.sign(d) === Math.sign(difference.mean)).length,
  };
}
