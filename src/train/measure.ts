/**
 * Throughput measurement of training steps and inference, shared by the
 * bench task and its tests.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { disposeTree } from "../core/params.ts";
import { Rng } from "../core/rng.ts";
import { brand } from "../core/tensor.ts";
import type { ModelSpec } from "../models/presets.ts";
import type { Sgemm } from "../backend/blas.ts";
import { ADAMW_DEFAULTS, initAdamW } from "./adamw.ts";
import { trainStep } from "./step.ts";

/** One measurement. */
export interface Throughput {
  mode: "train" | "infer";
  imagesPerSecond: number;
  /** Useful FLOP/s: 3x forward FLOPs per image for training, 1x for inference. */
  gflops: number;
  batchSize: number;
  steps: number;
}

/**
 * Images/s of training steps (or forward passes) at `batchSize`, after two
 * warm-up steps; measures up to `steps` steps or `maxSeconds`, whichever
 * comes first (at least one).
 */
export async function measure(
  spec: ModelSpec,
  mode: "train" | "infer",
  options: { batchSize: number; steps: number; maxSeconds: number },
): Promise<Throughput> {
  const rng = new Rng(0);
  let params = spec.init(rng);
  let state = initAdamW(params);
  const b = options.batchSize;
  const images = brand(tf.randomNormal([b, 32, 32, 3], 0, 1, "float32", 1), [
    "batch",
    "height",
    "width",
    "channels",
  ]);
  const labels = tf.tensor1d(Array.from({ length: b }, (_, i) => i % 10), "int32");
  const once = async () => {
    if (mode === "train") {
      const r = await trainStep(spec.apply, params, state, { images, labels }, {
        lr: 1e-4,
        labelSmoothing: 0.1,
        optimizer: ADAMW_DEFAULTS,
      }, rng);
      params = r.params;
      state = r.state;
    } else {
      const logits = tf.tidy(() => spec.apply(params, images, null));
      await logits.data();
      logits.dispose();
    }
  };
  // Warm-up: kernel compilation, JIT, and the heap's growth to its working
  // size (first-touch page faults are slow on this VM); two steps settle it.
  await once();
  await once();
  let steps = 0;
  const start = performance.now();
  while (
    steps < options.steps && (steps === 0 || performance.now() - start < options.maxSeconds * 1000)
  ) {
    await once();
    steps++;
  }
  const seconds = (performance.now() - start) / 1000;
  tf.dispose([images, labels]);
  [params, state.m, state.v].forEach(disposeTree);
  const imagesPerSecond = (steps * b) / seconds;
  return {
    mode,
    imagesPerSecond,
    gflops: (imagesPerSecond * spec.flops * (mode === "train" ? 3 : 1)) / 1e9,
    batchSize: b,
    steps,
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
