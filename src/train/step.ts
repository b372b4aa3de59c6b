/**
 * One training step and one evaluation step, as functions of the parameter
 * record: explicit gradients of the loss with `tf.valueAndGrads`, then AdamW.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  disposeTree,
  leaves,
  type ParamTree,
  splitBuffers,
  unflatten,
  withBuffers,
} from "../core/params.ts";
import type { Rng } from "../core/rng.ts";
import { guardWebGPU } from "../backend/webgpu_errors.ts";
import type { Images, Logits } from "../core/tensor.ts";
import { type AdamWConfig, type AdamWState, adamwStep } from "./adamw.ts";
import { adamwStepOnHost } from "./adamw_host.ts";
import { correctCount, crossEntropy } from "./loss.ts";

/** A batch of images and integer labels. */
export interface Batch {
  /** Normalised images. */
  images: Images;
  /** Class indices, `int32`. */
  labels: tf.Tensor1D;
}

/** A model as training sees it. */
export type ApplyFn = (
  params: ParamTree,
  images: Images,
  rng: Rng | null,
) => Logits;

/** Settings of one step. */
export interface StepConfig {
  /** Learning rate of this step. */
  lr: number;
  /** Label smoothing of the cross-entropy (0: none). */
  labelSmoothing: number;
  /** AdamW settings. */
  optimizer: AdamWConfig;
}

/** What a step reports (plain numbers: the step syncs once). */
export interface StepResult<P extends ParamTree> {
  /** The updated parameters (the old ones are disposed). */
  params: P;
  /** The updated optimizer state. */
  state: AdamWState<ParamTree>;
  /** Mean loss on the batch, before the update. */
  loss: number;
  /** Correctly classified images of the batch, before the update. */
  correct: number;
  /** Global gradient norm, before clipping. */
  gradNorm: number;
}

/**
 * Gradients of the mean loss on `batch` with respect to every trainable leaf
 * of `params` (buffers, see {@linkcode splitBuffers}, pass through
 * unchanged), then one AdamW update. `state` is shaped like the trainable
 * part. Disposes the old parameters and state (the returned ones replace
 * them), so a loop holds a constant number of tensors. On WebGPU, a device
 * error during the step (a kernel over a limit, out of memory) throws a
 * `WebGPUError` naming the step, before anything computed in it is used.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { ADAMW_DEFAULTS, brand, initAdamW, modelSpec, Rng, trainStep } from "@vision-attention/sa";
 * const spec = modelSpec("vit", "tiny"), rng = new Rng(0);
 * const params = spec.init(rng);
 * const batch = {
 *   images: brand(tf.randomNormal([4, 32, 32, 3]), ["batch", "height", "width", "channels"]),
 *   labels: tf.tensor1d([0, 1, 2, 3], "int32"),
 * };
 * const config = { lr: 1e-3, labelSmoothing: 0.1, optimizer: ADAMW_DEFAULTS };
 * const r = await trainStep(spec.apply, params, initAdamW(params), batch, config, rng);
 * console.assert(Number.isFinite(r.loss) && r.state.step === 1); // r.params replace params
 * ```
 */
export function trainStep<P extends ParamTree>(
  apply: ApplyFn,
  params: P,
  state: AdamWState<ParamTree>,
  batch: Batch,
  config: StepConfig,
  rng: Rng,
): Promise<StepResult<P>> {
  return guardWebGPU(
    `training step ${state.step + 1}`,
    () => unguardedStep(apply, params, state, batch, config, rng),
    "Training stopped; nothing computed in this step was kept or checkpointed.",
  );
}

async function unguardedStep<P extends ParamTree>(
  apply: ApplyFn,
  params: P,
  state: AdamWState<ParamTree>,
  batch: Batch,
  config: StepConfig,
  rng: Rng,
): Promise<StepResult<P>> {
  const { trainable, buffers } = splitBuffers(params);
  let correct: tf.Tensor | null = null;
  const lossOf = (...ws: tf.Tensor[]) => {
    const logits = apply(withBuffers(unflatten(trainable, ws), buffers), batch.images, rng);
    correct = tf.keep(correctCount(logits, batch.labels));
    return crossEntropy(logits, batch.labels, config.labelSmoothing);
  };
  const { value, grads } = tf.valueAndGrads(lossOf)(leaves(trainable));
  // Tensors of the CPU backends live in host memory: update them there in
  // one loop per leaf instead of ~1,000 small kernel calls.
  const update = tf.getBackend() === "webgpu" ? adamwStep : adamwStepOnHost;
  const next = update(
    trainable,
    unflatten(trainable, grads),
    state,
    config.lr,
    config.optimizer,
  );
  // One read-back per step: on a GPU each read is a submit and a wait for the
  // queue to drain, so the three numbers travel together.
  const summary = tf.tidy(() => tf.stack([value, next.gradNorm, tf.cast(correct!, "float32")]));
  const [loss, gradNorm, nCorrect] = await summary.data();
  tf.dispose([summary, value, next.gradNorm, correct!, ...grads]);
  disposeTree(trainable);
  disposeTree(state.m);
  disposeTree(state.v);
  return {
    params: withBuffers<P>(next.params, buffers),
    state: next.state,
    loss,
    correct: nCorrect,
    gradNorm,
  };
}

/** Logits for a batch in evaluation mode (no dropout), read back as arrays. */
export async function predict(
  apply: ApplyFn,
  params: ParamTree,
  images: Images,
): Promise<{ logits: Float32Array; classes: number }> {
  const logits = tf.tidy(() => apply(params, images, null));
  const data = (await logits.data()) as Float32Array;
  const classes = logits.shape[1]!;
  logits.dispose();
  return { logits: data, classes };
}
