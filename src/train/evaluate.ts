/**
 * Test-set evaluation: top-1 accuracy, per-class accuracy and the confusion
 * matrix, in evaluation mode (no augmentation, no dropout), optionally
 * averaged over several views of each image (test-time augmentation: flips,
 * one-pixel shifts); and the calibration of a model's
 * buffers (batch-norm statistics) on training images before it is evaluated.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { nextMacrotask } from "../core/event_loop.ts";
import { brand, type Images } from "../core/tensor.ts";
import { imageBatch } from "../data/batches.ts";
import type { ImageSet } from "../data/cifar.ts";
import { disposeTree, flatten, type ParamTree, splitBuffers } from "../core/params.ts";
import type { ModelSpec } from "../models/presets.ts";
import { type ApplyFn, fromTrainingStep, predict } from "./step.ts";

/** Evaluation results; accuracies are fractions in [0, 1]. */
export interface EvalResult {
  /** Top-1 accuracy. */
  accuracy: number;
  /** Top-1 accuracy of each class, in label order. */
  perClassAccuracy: number[];
  /** `confusion[label][predicted]` counts. */
  confusion: number[][];
  /** Images evaluated. */
  size: number;
  /**
   * Images whose logits hold NaN or an infinity: their predicted class is
   * arbitrary, so any of them makes the accuracy meaningless.
   */
  nonFiniteImages: number;
}

/**
 * Test-time augmentation: which views of each test image have their logits
 * averaged. `flip`: the image and its mirror. `flip-translate`: also both
 * shifted one pixel diagonally (zero padding, as the training crops pad),
 * each with its mirror; the centred pair weighs half (airbench, Jordan 2024).
 */
export type TestTimeAugmentation = "none" | "flip" | "flip-translate";

/** The modes of {@linkcode TestTimeAugmentation}, for flags and messages. */
export const TTA_MODES: readonly TestTimeAugmentation[] = ["none", "flip", "flip-translate"];

/**
 * The test-time augmentation a saved config names. Runs before modes existed
 * saved a boolean: `true` meant flips, `false` none.
 */
export function ttaMode(value: unknown): TestTimeAugmentation {
  if (value === true) return "flip";
  if (value === false) return "none";
  if (TTA_MODES.includes(value as TestTimeAugmentation)) return value as TestTimeAugmentation;
  throw new Error(
    `unknown test-time augmentation ${JSON.stringify(value)}: expected one of ${
      TTA_MODES.join(", ")
    }`,
  );
}

/** Options of {@linkcode evaluate}. */
export interface EvalOptions {
  /** Images per forward pass; default 250. */
  batchSize?: number;
  /** Output classes; default 10. */
  classes?: number;
  /** Views averaged per image (default `none`: the image alone). */
  tta?: TestTimeAugmentation;
  /**
   * Where the warning about non-finite logits goes (default `console.warn`
   * with a "Warning: " prefix): a diverged model otherwise scores a
   * plausible-looking accuracy.
   */
  warn?: (message: string) => void;
  /**
   * Asked after each batch (with the event loop given a turn first, so
   * signal listeners run); true stops the evaluation with
   * {@linkcode EvaluationStopped}.
   */
  shouldStop?: () => boolean;
  /**
   * Training images to recalibrate a batch-norm model's statistics on
   * (see {@linkcode calibrate}) when `params` came out of training steps,
   * which leave them stale. Without it such parameters are refused rather
   * than scored with the wrong statistics; other parameters (loaded, or
   * calibrated already) and models without batch norm ignore it.
   */
  calibrateOn?: ImageSet;
}

/** An evaluation given `shouldStop` stopped early; it has no result. */
export class EvaluationStopped extends Error {
  constructor() {
    super("evaluation stopped on request");
    this.name = "EvaluationStopped";
  }
}

/**
 * The dotted names of the tensors in `tree` that hold NaN or an infinity
 * (weights of a diverged run), in tree order.
 */
export function nonFiniteTensors(tree: ParamTree): string[] {
  return flatten(tree)
    .filter(([, t]) => !isAllFinite(t.dataSync()))
    .map(([name]) => name);
}

/**
 * Warn (on stderr, as `Warning: ...`) when `params` hold NaN or infinite
 * weights: a diverged run's checkpoint, whose accuracy means nothing.
 * Returns whether it warned.
 */
export function warnNonFinite(source: string, params: ParamTree): boolean {
  const broken = nonFiniteTensors(params);
  if (broken.length === 0) return false;
  console.warn(
    `Warning: ${source}: ${broken.length} tensors hold NaN or infinite weights (${
      broken.slice(0, 5).join(", ")
    }${broken.length > 5 ? ", ..." : ""}); the run diverged before this checkpoint was saved, ` +
      `so its accuracy means nothing. Use an earlier checkpoint or retrain with a lower --lr.`,
  );
  return true;
}

function isAllFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

/** `apply` whose logits are the mean over each image and its horizontal mirror. */
export function withFlipAveraging(apply: ApplyFn): ApplyFn {
  return (params, images, rng) =>
    tf.tidy(() => {
      const mirrored = brand(tf.reverse(images, 2), ["batch", "height", "width", "channels"]);
      return tf.div(tf.add(apply(params, images, rng), apply(params, mirrored, rng)), 2);
    }) as ReturnType<ApplyFn>;
}

/**
 * Images shifted by `dy` rows and `dx` columns (content moves down / right
 * for positive values), the uncovered border zero: the mean colour once
 * normalised, as the training crops pad.
 */
export function translate(images: Images, dy: number, dx: number): Images {
  return tf.tidy(() => {
    const [n, h, w, c] = images.shape;
    const py = Math.abs(dy), px = Math.abs(dx);
    const padded = tf.pad(images, [[0, 0], [py, py], [px, px], [0, 0]]);
    return brand(tf.slice(padded, [0, py - dy, px - dx, 0], [n, h, w, c]), [
      "batch",
      "height",
      "width",
      "channels",
    ]);
  });
}

/**
 * `apply` whose logits are half those of `images` and half the mean over the
 * images shifted one pixel up-left and one pixel down-right. Wrap a
 * flip-averaged `apply` to get the six-view `flip-translate` mode.
 */
export function withTranslateAveraging(apply: ApplyFn): ApplyFn {
  return (params, images, rng) =>
    tf.tidy(() => {
      const centred = apply(params, images, rng);
      const upLeft = apply(params, translate(images, -1, -1), rng);
      const downRight = apply(params, translate(images, 1, 1), rng);
      return tf.add(tf.mul(centred, 0.5), tf.mul(tf.add(upLeft, downRight), 0.25));
    }) as ReturnType<ApplyFn>;
}

/** `apply` with the views of `tta` averaged. */
export function withTestTimeAugmentation(apply: ApplyFn, tta: TestTimeAugmentation): ApplyFn {
  if (tta === "none") return apply;
  const flipped = withFlipAveraging(apply);
  return tta === "flip" ? flipped : withTranslateAveraging(flipped);
}

/**
 * Evaluate `model`'s `params` on every image of `set`. Parameters of a
 * batch-norm model straight out of training steps are first recalibrated on
 * `options.calibrateOn` (a copy: `params` is left as it is).
 *
 * @example
 * ```ts
 * import { evaluate, modelSpec, Rng } from "@vision-attention/sa";
 * const spec = modelSpec("vit", "tiny");
 * const params = spec.init(new Rng(0));
 * const set = { images: new Uint8Array(4 * 3072), labels: new Uint8Array([0, 1, 2, 3]), size: 4 };
 * const result = await evaluate(spec, params, set, { tta: "flip" }); // each image and its mirror
 * console.assert(result.size === 4 && result.confusion.length === 10);
 * ```
 */
export async function evaluate(
  model: Pick<ModelSpec, "apply" | "calibrate">,
  params: ParamTree,
  set: ImageSet,
  options: EvalOptions = {},
): Promise<EvalResult> {
  return await withCurrentStatistics(
    "evaluate",
    model,
    params,
    options.calibrateOn,
    (current) => evaluateAsIs(model.apply, current, set, options),
  );
}

/**
 * Run `use` on `params` with batch-norm statistics that belong to its
 * weights: as they are, unless they came out of training steps (which leave
 * the statistics stale); then on a copy recalibrated on `calibrateOn`
 * (disposed afterwards), and refused without it. `caller` names the
 * function in the refusal.
 */
export async function withCurrentStatistics<T>(
  caller: string,
  model: Pick<ModelSpec, "calibrate">,
  params: ParamTree,
  calibrateOn: ImageSet | undefined,
  use: (params: ParamTree) => Promise<T>,
): Promise<T> {
  if (!model.calibrate || !fromTrainingStep(params)) return await use(params);
  if (!calibrateOn) {
    throw new Error(
      `${caller}: these parameters come from training steps, which leave the model's batch-norm ` +
        "statistics stale; pass { calibrateOn: trainingImages } so they are measured first",
    );
  }
  const calibrated = calibrateCopy(model, params, calibrateOn);
  try {
    return await use(calibrated);
  } finally {
    const { buffers } = splitBuffers(calibrated);
    if (buffers) disposeTree(buffers);
  }
}

/** {@linkcode evaluate} without the check on batch-norm statistics. */
async function evaluateAsIs(
  apply: ApplyFn,
  params: ParamTree,
  set: ImageSet,
  options: EvalOptions,
): Promise<EvalResult> {
  const batchSize = options.batchSize ?? 250, classes = options.classes ?? 10;
  apply = withTestTimeAugmentation(apply, options.tta ?? "none");
  const confusion = Array.from(
    { length: classes },
    () => new Array<number>(classes).fill(0),
  );
  let nonFiniteImages = 0;
  for (let start = 0; start < set.size; start += batchSize) {
    const n = Math.min(batchSize, set.size - start);
    const indices = Array.from({ length: n }, (_, i) => start + i);
    const labels = indices.map((i) => set.labels[i]);
    let logits: Float32Array;
    {
      using batch = imageBatch(set, indices, null);
      ({ logits } = await predict(apply, params, batch.images));
    }
    for (let i = 0; i < n; i++) {
      if (!isAllFinite(logits.subarray(i * classes, (i + 1) * classes))) nonFiniteImages++;
      confusion[labels[i]][argmax(logits, i, classes)]++;
    }
    if (options.shouldStop) {
      await nextMacrotask();
      if (options.shouldStop()) throw new EvaluationStopped();
    }
  }
  if (nonFiniteImages > 0) {
    const warn = options.warn ?? ((message: string) => console.warn(`Warning: ${message}`));
    warn(
      `${nonFiniteImages} of ${set.size} test images got NaN or infinite logits, so the accuracy ` +
        `means nothing; the weights have probably diverged (check them for non-finite values, ` +
        `or use an earlier checkpoint)`,
    );
  }
  const correct = confusion.reduce((s, row, i) => s + row[i], 0);
  const perClassAccuracy = confusion.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? 0 : row[i] / total;
  });
  return {
    accuracy: set.size === 0 ? 0 : correct / set.size,
    perClassAccuracy,
    confusion,
    size: set.size,
    nonFiniteImages,
  };
}

/**
 * `params` with its buffers recomputed by `spec.calibrate` from `images`
 * evenly spaced training images (no augmentation), the old buffers disposed;
 * `params` itself when the model has none.
 */
export function calibrate<P extends ParamTree>(
  spec: ModelSpec,
  params: P,
  set: ImageSet,
  options: { images?: number; batchSize?: number } = {},
): P {
  if (!spec.calibrate) return params;
  const next = calibrateCopy(spec, params, set, options);
  const old = splitBuffers(params).buffers;
  if (old) disposeTree(old);
  return next;
}

/** {@linkcode calibrate}, leaving `params`'s own buffers alone (the caller disposes the copy's). */
function calibrateCopy<P extends ParamTree>(
  spec: Pick<ModelSpec, "calibrate">,
  params: P,
  set: ImageSet,
  options: { images?: number; batchSize?: number } = {},
): P {
  if (!spec.calibrate) return params;
  const batchSize = Math.min(options.batchSize ?? 250, set.size);
  const count = Math.max(1, Math.floor(Math.min(options.images ?? 2000, set.size) / batchSize));
  const stride = set.size / (count * batchSize);
  const batches = Array.from({ length: count }, (_, b) => {
    const indices = Array.from(
      { length: batchSize },
      (_, i) => Math.floor((b * batchSize + i) * stride),
    );
    return imageBatch(set, indices, null);
  });
  try {
    return spec.calibrate(params, batches.map((b) => b.images)) as P;
  } finally {
    batches.forEach((b) => b[Symbol.dispose]());
  }
}

/**
 * The predicted class (an index into `CLASS_NAMES`) of each image of
 * `images` (normalised, as {@linkcode imageBatch} makes them), one view.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { classify, imageBatch, modelSpec, Rng } from "@vision-attention/sa";
 * const spec = modelSpec("vit", "tiny"), params = spec.init(new Rng(0));
 * const set = { images: new Uint8Array(2 * 3072), labels: new Uint8Array(2), size: 2 };
 * const batch = imageBatch(set, [0, 1], null);
 * console.assert((await classify(spec, params, batch.images)).length === 2);
 * tf.dispose([batch.images, batch.labels]);
 * ```
 */
export async function classify(
  model: Pick<ModelSpec, "apply">,
  params: ParamTree,
  images: Images,
): Promise<number[]> {
  const { logits, classes } = await predict(model.apply, params, images);
  return Array.from({ length: logits.length / classes }, (_, i) => argmax(logits, i, classes));
}

/** The arg-max of row `row` of `logits` (`classes` a row), the first on ties. */
export function argmax(logits: Float32Array, row: number, classes = 10): number {
  let best = 0;
  for (let c = 1; c < classes; c++) {
    if (logits[row * classes + c] > logits[row * classes + best]) best = c;
  }
  return best;
}
