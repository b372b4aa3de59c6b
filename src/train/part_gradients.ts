/**
 * The gradient of one micro-batch: the piece of a training step that the
 * main thread and the gradient workers ({@linkcode GradientWorkers}) share,
 * so that both compute exactly the same function.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { leaves, type ParamTree, unflatten, withBuffers } from "../core/params.ts";
import type { Rng } from "../core/rng.ts";
import type { Images, Logits } from "../core/tensor.ts";
import { correctCount, crossEntropy } from "./loss.ts";

/** A model as training sees it. */
export type ApplyFn = (
  params: ParamTree,
  images: Images,
  rng: Rng | null,
) => Logits;

/** The mean loss of a micro-batch, its gradients (leaf order) and its correct count. */
export interface PartGradients {
  value: tf.Scalar;
  grads: tf.Tensor[];
  correct: tf.Tensor;
}

/** Loss, gradients with respect to every leaf of `trainable`, and correct count on one micro-batch. */
export function partGradients(
  apply: ApplyFn,
  trainable: ParamTree,
  buffers: ParamTree | null,
  images: Images,
  labels: tf.Tensor1D,
  labelSmoothing: number,
  rng: Rng,
): PartGradients {
  let correct: tf.Tensor | null = null;
  const lossOf = (...ws: tf.Tensor[]) => {
    const logits = apply(withBuffers(unflatten(trainable, ws), buffers), images, rng);
    correct = tf.keep(correctCount(logits, labels));
    return crossEntropy(logits, labels, labelSmoothing);
  };
  const r = tf.valueAndGrads(lossOf)(leaves(trainable));
  return { value: r.value as tf.Scalar, grads: r.grads, correct: correct! };
}
