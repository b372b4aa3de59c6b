/**
 * Loss and accuracy as pure functions of logits and labels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Logits, Scalar } from "../core/tensor.ts";

/**
 * Mean cross-entropy of `logits` `[batch, classes]` against integer
 * `labels` `[batch]`, with label smoothing `smoothing` (Szegedy et al. 2016):
 * the target puts `1 - smoothing` on the label and spreads `smoothing`
 * evenly over all classes.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand, crossEntropy } from "@vision-attention/sa";
 * const logits = brand(tf.tensor2d([[0, 0], [0, 0]]), ["batch", "classes"]);
 * const loss = crossEntropy(logits, tf.tensor1d([0, 1], "int32"), 0.1);
 * console.assert(Math.abs(loss.dataSync()[0] - Math.log(2)) < 1e-6); // uniform logits: ln 2
 * ```
 */
export function crossEntropy(
  logits: Logits,
  labels: tf.Tensor1D,
  smoothing = 0,
): Scalar {
  const [b, k] = logits.shape;
  if (labels.shape[0] !== b) {
    throw new Error(
      `crossEntropy: ${b} logits rows but ${labels.shape[0]} labels`,
    );
  }
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits); // (B, K)
    const target = tf.add(
      tf.mul(tf.oneHot(labels, k), 1 - smoothing),
      smoothing / k,
    ); // (B, K)
    return tf.neg(tf.mean(tf.sum(tf.mul(target, logp), -1)));
  }) as Scalar;
}

/** Number of rows whose arg-max equals the label (an int32 scalar). */
export function correctCount(logits: Logits, labels: tf.Tensor1D): Scalar {
  return tf.tidy(() =>
    tf.sum(
      tf.cast(
        tf.equal(tf.argMax(logits, -1), tf.cast(labels, "int32")),
        "int32",
      ),
    )
  ) as Scalar;
}
