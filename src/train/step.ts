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
import { Rng } from "../core/rng.ts";
import { guardWebGPU } from "../backend/select.ts";
import { cast, type Images } from "../core/tensor.ts";
import type { Batch } from "../data/batches.ts";
import type { ModelSpec } from "../models/presets.ts";
import {
  ADAMW_DEFAULTS,
  type AdamWConfig,
  type AdamWState,
  adamwStep,
  initAdamW,
} from "./adamw.ts";
import { adamwStepOnHost } from "./adamw_host.ts";
import type { GradientWorkers, WorkerSums } from "./gradient_workers.ts";
import { type ApplyFn, type PartGradients, partGradients } from "./part_gradients.ts";

export type { ApplyFn };

export type { Batch };

/** Settings of one step. */
export interface StepConfig {
  /** Learning rate of this step. */
  lr: number;
  /** Label smoothing of the cross-entropy (0: none). */
  labelSmoothing: number;
  /** AdamW settings. */
  optimizer: AdamWConfig;
  /**
   * Split the batch into this many equal parts and average their gradients
   * before the one update (default 1). The same step as the whole batch for
   * a model without batch norm, with a fraction of the activation memory:
   * the wasm heap (4 GiB) cannot hold some models' whole-batch tape.
   */
  microBatches?: number;
  /**
   * Worker threads that compute some of the micro-batches in parallel with
   * the main thread ({@linkcode GradientWorkers}); the batch then splits into
   * `microBatches` parts (default: one per thread), which must divide among
   * the threads. Each micro-batch draws its dropout from its own seed.
   */
  workers?: GradientWorkers;
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
 * The low-level form of {@linkcode trainStep}, for code that holds the
 * parameters and optimizer state apart (the loop, the gradient benchmarks).
 */
export function stepParams<P extends ParamTree>(
  apply: ApplyFn,
  params: P,
  state: AdamWState<ParamTree>,
  batch: Batch,
  config: StepConfig,
  rng: Rng,
): Promise<StepResult<P>> {
  return guardWebGPU(
    `training step ${state.step + 1}`,
    async () => {
      const r = await unguardedStep(apply, params, state, batch, config, rng);
      trained.add(r.params);
      return r;
    },
    "Training stopped; nothing computed in this step was kept or checkpointed.",
  );
}

/**
 * Parameter records that came out of a training step. A step normalises
 * with each batch's own statistics and leaves the stored batch-norm
 * statistics as they were, so such a record must be recalibrated before it
 * is evaluated (`evaluate` does it when given the training images).
 */
const trained = new WeakSet<object>();

/** Whether `params` came out of a training step (its batch-norm statistics are stale). */
export function fromTrainingStep(params: ParamTree): boolean {
  return trained.has(params as object);
}

/** What training carries from step to step: the parameters and AdamW's state. */
export interface TrainState<P extends ParamTree = ParamTree> {
  /** The model's parameters, buffers (batch-norm statistics) included. */
  params: P;
  /** AdamW's moments over the trainable leaves, and its step count. */
  optimizer: AdamWState<ParamTree>;
}

/**
 * A fresh training state for `model`: parameters from `rng`, and AdamW's
 * zero moments over the trainable leaves only (buffers such as batch-norm
 * statistics are not trained, see {@linkcode splitBuffers}).
 *
 * @example
 * ```ts
 * import { initTrainState, modelSpec, Rng } from "@vision-attention/sa";
 * const state = initTrainState(modelSpec("cnn", "tiny"), new Rng(0));
 * console.assert(state.optimizer.step === 0);
 * ```
 */
export function initTrainState(model: ModelSpec, rng: Rng): TrainState {
  const params = model.init(rng);
  return { params, optimizer: initAdamW(splitBuffers(params).trainable) };
}

/** Options of {@linkcode trainStep}: the learning rate, and what else differs from the defaults. */
export interface TrainStepOptions extends Partial<StepConfig> {
  /** Learning rate of this step. */
  lr: number;
  /** Draws dropout (and micro-batch seeds); default: a generator seeded by the step number. */
  rng?: Rng;
}

/** What {@linkcode trainStep} returns. */
export interface TrainStepResult {
  /** The state after the update (the old one's tensors are disposed). */
  state: TrainState;
  /** Mean loss on the batch, before the update. */
  loss: number;
  /** Correctly classified images of the batch, before the update. */
  correct: number;
  /** Global gradient norm, before clipping. */
  gradNorm: number;
}

/**
 * One explicit-gradient step of `model` on `batch`: the gradients of the
 * mean cross-entropy (`labelSmoothing`, default 0) by `tf.valueAndGrads`,
 * then one AdamW update (`optimizer`, default {@linkcode ADAMW_DEFAULTS}).
 * Disposes the old state's tensors, so a loop holds a constant number. On
 * WebGPU, a device error during the step throws a `WebGPUError` naming the
 * step.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { imageBatch, initTrainState, modelSpec, Rng, trainStep } from "@vision-attention/sa";
 * const model = modelSpec("vit", "tiny"), rng = new Rng(0);
 * const set = { images: new Uint8Array(4 * 3072), labels: new Uint8Array([0, 1, 2, 3]), size: 4 };
 * const batch = imageBatch(set, [0, 1, 2, 3], rng);
 * const r = await trainStep(model, initTrainState(model, rng), batch, { lr: 1e-3 });
 * tf.dispose([batch.images, batch.labels]);
 * console.assert(Number.isFinite(r.loss) && r.state.optimizer.step === 1);
 * ```
 */
export async function trainStep(
  model: ModelSpec,
  state: TrainState,
  batch: Batch,
  options: TrainStepOptions,
): Promise<TrainStepResult> {
  const { rng, ...rest } = options;
  const config: StepConfig = { labelSmoothing: 0, optimizer: ADAMW_DEFAULTS, ...rest };
  const r = await stepParams(
    model.apply,
    state.params,
    state.optimizer,
    batch,
    config,
    rng ?? new Rng(state.optimizer.step + 1),
  );
  return {
    state: { params: r.params, optimizer: r.state },
    loss: r.loss,
    correct: r.correct,
    gradNorm: r.gradNorm,
  };
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
  const { value, grads, correct } = config.workers
    ? await parallelGradients(config.workers, apply, trainable, buffers, batch, config, rng)
    : gradients(apply, trainable, buffers, batch, config, rng);
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

/**
 * Mean loss, its gradients and the correct count on `batch`, one micro-batch
 * at a time: each part's tape is freed before the next is built, and the
 * parts' mean gradients are averaged (equal parts, so that is the batch's).
 */
function gradients(
  apply: ApplyFn,
  trainable: ParamTree,
  buffers: ParamTree | null,
  batch: Batch,
  config: StepConfig,
  rng: Rng,
): { value: tf.Scalar; grads: tf.Tensor[]; correct: tf.Tensor } {
  const parts = config.microBatches ?? 1, size = batch.images.shape[0];
  if (!Number.isInteger(parts) || parts < 1 || size % parts !== 0) {
    throw new Error(
      `microBatches must be a whole number that divides the batch of ${size}, got ${parts}`,
    );
  }
  const sums = sumParts(apply, trainable, buffers, batch, config, size / parts, parts, () => rng);
  return meanOf(sums, parts);
}

/**
 * Sums of {@linkcode partGradients} over the batch's first `count`
 * micro-batches of `part` images (micro-batch `i` draws its dropout from
 * `rngOf(i)`); each part's tape is freed before the next is built.
 */
function sumParts(
  apply: ApplyFn,
  trainable: ParamTree,
  buffers: ParamTree | null,
  batch: Batch,
  config: StepConfig,
  part: number,
  count: number,
  rngOf: (i: number) => Rng,
): PartGradients {
  const whole = part === batch.images.shape[0];
  let sums: PartGradients | null = null;
  try {
    for (let i = 0; i < count; i++) {
      const images: Images = whole
        ? batch.images
        : cast(tf.slice(batch.images, [i * part, 0, 0, 0], [part, -1, -1, -1]));
      const labels = whole ? batch.labels : tf.slice(batch.labels, [i * part], [part]);
      const r = partGradients(
        apply,
        trainable,
        buffers,
        images,
        labels,
        config.labelSmoothing,
        rngOf(i),
      );
      if (!whole) tf.dispose([images, labels]);
      sums = sums ? addParts(sums, r) : r;
    }
  } catch (e) {
    // Free the parts summed so far: the caller never sees them.
    if (sums) tf.dispose([sums.value, sums.correct, ...sums.grads]);
    throw e;
  }
  return sums!;
}

/** The mean over `parts` equal micro-batches from their sums (disposes the sums). */
function meanOf(sums: PartGradients, parts: number): PartGradients {
  if (parts === 1) return sums;
  const { value, grads, correct } = sums;
  return { value: scaleBy(value, parts), grads: grads.map((g) => scaleBy(g, parts)), correct };
}

/** Running sums of micro-batch results (disposes both inputs). */
function addParts(a: PartGradients, b: PartGradients): PartGradients {
  const add = <X extends tf.Tensor>(x: X, y: X): X => {
    const out = tf.add(x, y) as X;
    tf.dispose([x, y]);
    return out;
  };
  return {
    value: add(a.value, b.value),
    correct: add(a.correct, b.correct),
    grads: a.grads.map((g, j) => add(g, b.grads[j])),
  };
}

/** `x / n`, disposing `x`. */
function scaleBy<X extends tf.Tensor>(x: X, n: number): X {
  const out = tf.div(x, n) as X;
  x.dispose();
  return out;
}

/**
 * {@linkcode gradients} with the micro-batches shared among the main thread
 * and `workers`: each worker's share is sent first, the main thread computes
 * its own while they run, then the sums are added and averaged.
 */
async function parallelGradients(
  workers: GradientWorkers,
  apply: ApplyFn,
  trainable: ParamTree,
  buffers: ParamTree | null,
  batch: Batch,
  config: StepConfig,
  rng: Rng,
): Promise<PartGradients> {
  const threads = workers.count + 1, size = batch.images.shape[0];
  const parts = config.microBatches ?? threads;
  if (!Number.isInteger(parts) || parts % threads !== 0 || size % parts !== 0) {
    throw new Error(
      `With ${workers.count} gradient worker(s), microBatches must be a multiple of ${threads} ` +
        `threads that divides the batch of ${size}, got ${parts}`,
    );
  }
  const part = size / parts, perThread = parts / threads;
  const seeds = Array.from({ length: parts }, () => rng.nextUint32());
  const pixels = batch.images.dataSync() as Float32Array,
    labels = batch.labels.dataSync() as Int32Array;
  const weights = leaves(trainable), bufferLeaves = buffers ? leaves(buffers) : null;
  // Worker t takes parts [(t+1)·perThread, (t+2)·perThread); the main thread the first ones.
  const pending = Array.from({ length: workers.count }, (_, w) => {
    const from = (w + 1) * perThread * part, to = from + perThread * part;
    return workers.sums(w, {
      trainable: weights,
      buffers: bufferLeaves,
      images: pixels.slice(from * 3072, to * 3072),
      labels: labels.slice(from, to),
      seeds: seeds.slice((w + 1) * perThread, (w + 2) * perThread),
      labelSmoothing: config.labelSmoothing,
    });
  });
  // Settle every request even if one fails, so none is left in flight.
  const settled = Promise.allSettled(pending);
  let sums: PartGradients | null = null, mainError: unknown = null;
  try {
    sums = sumParts(
      apply,
      trainable,
      buffers,
      batch,
      config,
      part,
      perThread,
      (i) => new Rng(seeds[i]),
    );
  } catch (e) {
    mainError = e;
  }
  const results = await settled;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (mainError !== null || failed) {
    if (sums) tf.dispose([sums.value, sums.correct, ...sums.grads]);
    throw mainError ?? failed!.reason;
  }
  const shapes = weights.map((t) => t.shape);
  for (const r of results as PromiseFulfilledResult<WorkerSums>[]) {
    sums = addParts(sums!, {
      value: tf.scalar(r.value.value),
      correct: tf.scalar(r.value.correct),
      grads: r.value.grads.map((g, j) => tf.tensor(g, shapes[j])),
    });
  }
  return meanOf(sums!, parts);
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
