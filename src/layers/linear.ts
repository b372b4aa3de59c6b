/**
 * A dense layer over the last axis: `y = x W + b`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import { truncNormal, zeros } from "../core/params.ts";

/** Parameters of {@linkcode linear}: `w` is `[dIn, dOut]`, `b` is `[dOut]`. */
export type LinearParams = { w: tf.Tensor; b: tf.Tensor };

/** Initialise a linear layer (truncated normal, std 0.02 by default, as ViT). */
export function initLinear(
  rng: Rng,
  dIn: number,
  dOut: number,
  std = 0.02,
): LinearParams {
  return { w: truncNormal(rng, [dIn, dOut], std), b: zeros([dOut]) };
}

/**
 * Apply a linear layer to the last axis of `x` (any rank >= 1).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Rng } from "../core/rng.ts";
 * import { initLinear, linear } from "./linear.ts";
 * const p = initLinear(new Rng(0), 4, 2);
 * const y = linear(p, tf.ones([3, 5, 4]));
 * console.assert(y.shape.join() === "3,5,2");
 * ```
 */
export function linear(params: LinearParams, x: tf.Tensor): tf.Tensor {
  const [dIn, dOut] = params.w.shape;
  if (x.shape[x.rank - 1] !== dIn) {
    throw new Error(
      `linear: input's last axis is ${
        x.shape[x.rank - 1]
      } (shape [${x.shape}]), the weight expects ${dIn}`,
    );
  }
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const x2 = x.reshape([-1, dIn]); // (N, dIn)
    const y = tf.add(tf.matMul(x2, params.w), params.b); // (N, dOut)
    return y.reshape([...lead, dOut]);
  });
}
