/**
 * GELU and dropout.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { GELU, GELU_GRAD } from "../core/ops.ts";
import type { Rng } from "../core/rng.ts";

// The fused kernels' names, where the layer has always exported them.
export { GELU, GELU_GRAD };

const GELU_C = 2 * Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh approximation (Hendrycks & Gimpel 2016), written as
 * `x * sigmoid(2c (x + 0.044715 x^3))`: the same function as
 * `0.5 x (1 + tanh(c (x + 0.044715 x^3)))`, but built from mul and sigmoid,
 * which tfjs's wasm backend runs as fast SIMD kernels (pow and tanh are scalar
 * loops there, about 10x slower).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (x.dtype === "float32" && tf.getKernel(GELU, tf.getBackend())) {
    return tf.engine().runKernel(GELU, { x }) as tf.Tensor;
  }
  return tf.tidy(() => {
    const cube = tf.mul(tf.mul(x, x), x);
    return tf.mul(
      x,
      tf.sigmoid(tf.mul(tf.add(x, tf.mul(cube, 0.044715)), GELU_C)),
    );
  });
}

tf.registerGradient({
  kernelName: GELU,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return { x: () => tf.engine().runKernel(GELU_GRAD, { dy: dy as tf.Tensor, x }) as tf.Tensor };
  },
});

/**
 * Inverted dropout with rate `rate`, seeded from `rng`; the identity when
 * `rng` is null (evaluation) or the rate is 0.
 */
export function dropout(
  x: tf.Tensor,
  rate: number,
  rng: Rng | null,
): tf.Tensor {
  if (rng === null || rate === 0) return x;
  if (!(rate >= 0 && rate < 1)) {
    throw new Error(`dropout: rate must be in [0, 1), got ${rate}`);
  }
  return tf.tidy(() => {
    const keep = tf.greaterEqual(
      tf.randomUniform(x.shape, 0, 1, "float32", rng.nextUint32()),
      rate,
    );
    return tf.mul(x, tf.mul(tf.cast(keep, "float32"), 1 / (1 - rate)));
  });
}
