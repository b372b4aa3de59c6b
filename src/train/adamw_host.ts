/**
 * The same AdamW step as {@linkcode adamwStep}, computed in one loop per
 * parameter over host memory. On the CPU backends (wasm, the fast path, cpu)
 * tensors already live in host memory, and the tensor form costs about a
 * thousand small kernel calls per step (8 ops per leaf, ~60 leaves, plus the
 * norm): per-call overhead, not arithmetic. This form reads each leaf once
 * and writes three. GPU backends keep the tensor form.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { flatten, type ParamTree, unflatten } from "../core/params.ts";
import { type AdamWConfig, type AdamWState, decays } from "./adamw.ts";

/**
 * One AdamW step on host memory; same contract and, up to float32 rounding,
 * same result as {@linkcode adamwStep}: new parameters and state, and the
 * gradient norm before clipping; disposes nothing it was given.
 */
export function adamwStepOnHost<P extends ParamTree>(
  params: P,
  grads: P,
  state: AdamWState<P>,
  lr: number,
  config: AdamWConfig,
): { params: P; state: AdamWState<P>; gradNorm: tf.Scalar } {
  const step = state.step + 1;
  const p = flatten(params);
  const g = flatten(grads).map(([, t]) => t.dataSync() as Float32Array);
  const m = flatten(state.m).map(([, t]) => t.dataSync() as Float32Array);
  const v = flatten(state.v).map(([, t]) => t.dataSync() as Float32Array);
  let squares = 0;
  for (const gi of g) for (let j = 0; j < gi.length; j++) squares += gi[j] * gi[j];
  const norm = Math.sqrt(squares);
  const clip = config.clipNorm > 0 ? Math.min(1, config.clipNorm / (norm + 1e-6)) : 1;
  const { beta1, beta2, eps } = config;
  const bc1 = 1 - beta1 ** step, bc2 = 1 - beta2 ** step;
  const newP: tf.Tensor[] = [], newM: tf.Tensor[] = [], newV: tf.Tensor[] = [];
  p.forEach(([name, t], i) => {
    const w = t.dataSync() as Float32Array, gi = g[i], mi = m[i], vi = v[i];
    const keep = decays(name, t) && config.weightDecay > 0 ? 1 - lr * config.weightDecay : 1;
    const w2 = new Float32Array(w.length),
      m2 = new Float32Array(w.length),
      v2 = new Float32Array(w.length);
    for (let j = 0; j < w.length; j++) {
      const gj = gi[j] * clip;
      const mj = beta1 * mi[j] + (1 - beta1) * gj;
      const vj = beta2 * vi[j] + (1 - beta2) * gj * gj;
      m2[j] = mj;
      v2[j] = vj;
      w2[j] = w[j] * keep - lr * ((mj / bc1) / (Math.sqrt(vj / bc2) + eps));
    }
    newP.push(tf.tensor(w2, t.shape));
    newM.push(tf.tensor(m2, t.shape));
    newV.push(tf.tensor(v2, t.shape));
  });
  return {
    params: unflatten(params, newP),
    state: { m: unflatten(state.m, newM), v: unflatten(state.v, newV), step },
    gradNorm: tf.scalar(norm),
  };
}
