/**
 * Throughput of training steps and inference as training runs them, shared
 * by the bench and profile tasks and their tests: real CIFAR-10 images (the
 * shipped sample), augmented and uploaded per step as the training loop
 * does, through the same {@linkcode trainStep} and optimizer settings.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { disposeTree, type ParamTree, splitBuffers } from "../core/params.ts";
import { Rng } from "../core/rng.ts";
import { imageBatch } from "../data/batches.ts";
import { type ImageSet, loadCifar10 } from "../data/cifar.ts";
import { type ModelSpec, presetNames } from "../models/presets.ts";
import { currentBackend, type Sgemm } from "../backend/select.ts";
import { type AdamWState, initAdamW } from "../train/adamw.ts";
import {
  dataDir,
  microBatchesFor,
  optimizerOf,
  resolveConfig,
  type TrainConfig,
} from "../train/config.ts";
import { GradientWorkers } from "../train/gradient_workers.ts";
import { predict, stepParams } from "../train/step.ts";

/** The path this thread trains on, for its gradient workers to take too. */
function backendName(): string {
  const chosen = currentBackend();
  if (!chosen) throw new Error("measure: select a backend first (selectBackend)");
  return chosen.name;
}

/** The batch size a preset trains with (as `resolveConfig` gives it). */
export function trainingBatchSize(spec: ModelSpec): number {
  return configOf(spec).batchSize;
}

/**
 * The training config `spec` would get from `resolveConfig`: its preset's,
 * or for a model of no preset (`cnnSpec(config, "my-net")`), the kind's defaults.
 */
function configOf(spec: ModelSpec, batchSize?: number): TrainConfig {
  const preset = presetNames(spec.kind).includes(spec.preset) ? spec.preset : undefined;
  return resolveConfig(spec.kind, { preset, batchSize });
}

/** Steps of a model on real images; see {@linkcode trainingSteps}. */
export interface Stepper {
  /** One training step (or forward pass); returns its wall-clock milliseconds. */
  step(): Promise<number>;
  /** Dispose the parameters and optimizer state, and close the gradient workers (awaited). */
  dispose(): Promise<void>;
}

/**
 * Training steps (or, with `mode: "infer"`, forward passes that read the
 * logits back as evaluation does) of a freshly initialised `spec` at
 * `batchSize`. Each step fills a batch from the shipped sample with the
 * training augmentation and uploads it, as the training loop does, so its
 * time is the loop's per-step time; learning rate and optimizer settings are
 * the preset's.
 */
export async function trainingSteps(
  spec: ModelSpec,
  options: {
    batchSize: number;
    mode?: "train" | "infer";
    seed?: number;
    /** Training threads (see `TrainConfig.threads`; default 1); inference uses one. */
    threads?: number;
  },
): Promise<Stepper> {
  const data = await sampleImages();
  const rng = new Rng(options.seed ?? 0), b = options.batchSize;
  let params: ParamTree = spec.init(rng.fork());
  // Buffers (batch-norm statistics) are not trained: no optimizer state.
  let state: AdamWState<ParamTree> = initAdamW(splitBuffers(params).trainable);
  // The preset's settings at the measured batch: its micro-batches where they
  // divide it (resolveConfig's rule), one per thread at least.
  const config = configOf(spec, options.batchSize);
  const threads = options.mode === "infer" ? 1 : options.threads ?? 1;
  const parts = microBatchesFor(config, threads);
  if (b % parts !== 0) {
    throw new Error(`batch ${b} does not split into ${parts} micro-batches for ${threads} threads`);
  }
  const workers = threads > 1
    ? await GradientWorkers.start(spec, threads - 1, backendName())
    : undefined;
  const stepConfig = {
    lr: config.lr,
    labelSmoothing: config.labelSmoothing,
    optimizer: optimizerOf(config),
    microBatches: parts,
    workers,
  };
  let next = 0;
  const batch = () => {
    const order = Int32Array.from({ length: b }, () => next++ % data.size);
    return imageBatch(data, order, rng);
  };
  return {
    async step() {
      const start = performance.now();
      const { images, labels } = batch();
      if (options.mode === "infer") {
        await predict(spec.apply, params, images);
      } else {
        const r = await stepParams(spec.apply, params, state, { images, labels }, stepConfig, rng);
        params = r.params;
        state = r.state;
      }
      tf.dispose([images, labels]);
      return performance.now() - start;
    },
    async dispose() {
      [params, state.m, state.v].forEach(disposeTree);
      await workers?.close();
    },
  };
}

let sample: Promise<ImageSet> | null = null;

/** The shipped sample's 1,000 training images, loaded once per process. */
function sampleImages(): Promise<ImageSet> {
  sample ??= loadCifar10(dataDir("sample"), { testSize: 1 }).then((d) => d.train);
  return sample;
}

/** One measurement. */
export interface Throughput {
  mode: "train" | "infer";
  imagesPerSecond: number;
  /** Useful FLOP/s: 3x forward FLOPs per image for training, 1x for inference. */
  gflops: number;
  batchSize: number;
  /** Training threads (1 for inference). */
  threads: number;
  steps: number;
  /** Images/s of the slowest and the fastest measured step: the spread. */
  stepRange: [number, number];
}

/**
 * Images/s of training steps (or forward passes) at `batchSize`, after
 * `warmup` steps (default 2); measures up to `steps` steps or `maxSeconds`,
 * whichever comes first (at least one).
 */
export async function measure(
  spec: ModelSpec,
  mode: "train" | "infer",
  options: {
    batchSize: number;
    steps: number;
    maxSeconds: number;
    warmup?: number;
    /** Training threads (default 1). */
    threads?: number;
  },
): Promise<Throughput> {
  const b = options.batchSize;
  const threads = mode === "infer" ? 1 : options.threads ?? 1;
  const stepper = await trainingSteps(spec, { batchSize: b, mode, threads });
  const times: number[] = [];
  try {
    // Warm-up: kernel compilation, JIT, and the heap's growth to its working
    // size (first-touch page faults are slow on this VM); two steps settle it.
    for (let i = 0; i < (options.warmup ?? 2); i++) await stepper.step();
    let spent = 0;
    while (
      times.length < options.steps && (times.length === 0 || spent < options.maxSeconds * 1e3)
    ) {
      times.push(await stepper.step());
      spent += times.at(-1)!;
    }
  } finally {
    await stepper.dispose();
  }
  const seconds = times.reduce((s, t) => s + t, 0) / 1000;
  const imagesPerSecond = (times.length * b) / seconds;
  return {
    mode,
    imagesPerSecond,
    gflops: (imagesPerSecond * spec.flops * (mode === "train" ? 3 : 1)) / 1e9,
    batchSize: b,
    threads,
    steps: times.length,
    stepRange: [(b * 1000) / Math.max(...times), (b * 1000) / Math.min(...times)],
  };
}

/** GFLOP/s of one native sgemm of size n (the machine's practical limit). */
export function sgemmProbe(
  sgemm: Sgemm,
  shapes: [number, number, number][] = [[4096, 256, 256], [2048, 1024, 1024], [8320, 128, 384]],
): number {
  let best = 0;
  for (const [m, k, n] of shapes) {
    const a = new Float32Array(m * k).map((_, i) => (i % 7) / 7),
      b = new Float32Array(k * n).map((_, i) => (i % 5) / 5);
    const c = new Float32Array(m * n);
    sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
    const reps = 10, start = performance.now();
    for (let i = 0; i < reps; i++) sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
    best = Math.max(best, (2 * m * n * k * reps) / ((performance.now() - start) / 1000) / 1e9);
  }
  return best;
}
