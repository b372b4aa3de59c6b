// Shared test setup: one backend per test process (TEST_BACKEND, default the
// fast CPU path), plus small numeric helpers.
import * as tf from "@tensorflow/tfjs";
import { type BackendName, selectBackend } from "../src/backend/select.ts";
import { defaultConfig, type TrainConfig } from "../src/train/config.ts";

/** Start the backend the tests run on (once). */
export async function setup(): Promise<void> {
  tf.env().set("IS_TEST", true); // quiet tfjs's "install tfjs-node" banner
  await selectBackend((Deno.env.get("TEST_BACKEND") ?? "fast") as BackendName, true);
}

/** Largest absolute difference between two tensors or arrays. */
export function maxAbsDiff(
  a: tf.Tensor | ArrayLike<number>,
  b: tf.Tensor | ArrayLike<number>,
): number {
  const x = a instanceof tf.Tensor ? a.dataSync() : a,
    y = b instanceof tf.Tensor ? b.dataSync() : b;
  if (x.length !== y.length) throw new Error(`length ${x.length} vs ${y.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Deterministic pseudo-random tensor (not tf.random, whose streams differ by backend). */
export function seeded(shape: number[], seed: number, scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return tf.tensor(data, shape);
}

/**
 * Finite-difference check of the gradient of `f` (a scalar function of the
 * inputs) along a random direction: returns [analytic, numeric].
 */
export function directionalCheck(
  f: (...xs: tf.Tensor[]) => tf.Scalar,
  xs: tf.Tensor[],
  eps = 1e-2,
): [number, number] {
  return tf.tidy(() => {
    const grads = tf.grads(f)(xs);
    const dirs = xs.map((x, i) => seeded(x.shape, 1000 + i));
    const analytic = grads.reduce((s, g, i) => s + tf.sum(tf.mul(g, dirs[i])).dataSync()[0], 0);
    const plus = f(...xs.map((x, i) => tf.add(x, tf.mul(dirs[i], eps)))).dataSync()[0];
    const minus = f(...xs.map((x, i) => tf.sub(x, tf.mul(dirs[i], eps)))).dataSync()[0];
    return [analytic, (plus - minus) / (2 * eps)];
  });
}

/** Run `fn` on tfjs's stock cpu backend, then switch back. */
export async function onCpu<R>(fn: () => R): Promise<R> {
  const previous = tf.getBackend();
  await tf.setBackend("cpu");
  try {
    return fn();
  } finally {
    await tf.setBackend(previous);
  }
}

/** A run of the tiny ViT on 512 sample images (8 steps an epoch, 2 epochs), changed by `extra`. */
export function tinyRunConfig(out: string, extra: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...defaultConfig("vit"),
    preset: "tiny",
    epochs: 2,
    batchSize: 64,
    lr: 3e-3,
    warmupEpochs: 0.5,
    data: "sample",
    trainSize: 512,
    testSize: 100,
    backend: "auto",
    out,
    ...extra,
  };
}
