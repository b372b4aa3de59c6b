/**
 * Turn stored images into float batches `[batch, 32, 32, 3]`: per-channel
 * normalisation and, for training, the standard CIFAR augmentation (random
 * crop with 4-pixel zero padding, random horizontal flip; He et al. 2016).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import { brand, type Images } from "../core/tensor.ts";
import { IMAGE_BYTES, type ImageSet } from "./cifar.ts";

/** Per-channel mean and std of the CIFAR-10 training set, in [0, 1] units. */
export const CIFAR_MEAN = [0.4914, 0.4822, 0.4465] as const;
/** See {@linkcode CIFAR_MEAN}. */
export const CIFAR_STD = [0.2470, 0.2435, 0.2616] as const;

const SIDE = 32, PLANE = SIDE * SIDE;

/** Augmentation settings. */
export interface AugmentConfig {
  /** Pixels of zero padding for the random crop; 0 disables. */
  cropPadding: number;
  /** Random horizontal flips. */
  flip: boolean;
}

/** The training-time default: crop with 4-pixel padding, flip. */
export const DEFAULT_AUGMENT: AugmentConfig = { cropPadding: 4, flip: true };

/**
 * Fill `out` (NHWC floats, `indices.length` images) from `set`. With `rng`,
 * each image is randomly cropped and flipped per `augment`; without, it is
 * copied as is. Normalised by {@linkcode CIFAR_MEAN} / {@linkcode CIFAR_STD}.
 * Padding is zero in normalised units (the mean colour).
 *
 * @example
 * ```ts
 * import { Rng } from "@vision-attention/sa";
 * import { fillBatch } from "./batches.ts";
 * const set = { images: new Uint8Array(2 * 3072).fill(128), labels: new Uint8Array([3, 5]), size: 2 };
 * const out = new Float32Array(2 * 32 * 32 * 3), labels = new Int32Array(2);
 * fillBatch(set, [1, 0], out, labels, new Rng(0)); // with a generator: random crops and flips
 * console.assert(labels[0] === 5 && labels[1] === 3);
 * ```
 */
export function fillBatch(
  set: ImageSet,
  indices: ArrayLike<number>,
  out: Float32Array,
  labels: Int32Array,
  rng: Rng | null,
  augment: AugmentConfig = DEFAULT_AUGMENT,
): void {
  const scale = CIFAR_STD.map((s) => 1 / (255 * s)),
    shift = CIFAR_MEAN.map((m, c) => m / CIFAR_STD[c]);
  for (let n = 0; n < indices.length; n++) {
    const idx = indices[n];
    if (!(idx >= 0 && idx < set.size)) {
      throw new Error(`fillBatch: index ${idx} outside the ${set.size} images`);
    }
    labels[n] = set.labels[idx];
    const src = idx * IMAGE_BYTES, dst = n * PLANE * 3;
    const pad = rng ? augment.cropPadding : 0;
    const dy = pad ? rng!.int(2 * pad + 1) - pad : 0,
      dx = pad ? rng!.int(2 * pad + 1) - pad : 0;
    const flip = rng !== null && augment.flip && rng.uniform() < 0.5;
    for (let y = 0; y < SIDE; y++) {
      const sy = y + dy;
      for (let x = 0; x < SIDE; x++) {
        const sx = (flip ? SIDE - 1 - x : x) + dx;
        const o = dst + (y * SIDE + x) * 3;
        if (sy < 0 || sy >= SIDE || sx < 0 || sx >= SIDE) {
          out[o] = out[o + 1] = out[o + 2] = 0;
          continue;
        }
        const p = src + sy * SIDE + sx;
        out[o] = set.images[p] * scale[0] - shift[0];
        out[o + 1] = set.images[p + PLANE] * scale[1] - shift[1];
        out[o + 2] = set.images[p + 2 * PLANE] * scale[2] - shift[2];
      }
    }
  }
}

/** A batch of images and integer labels, as a training step and `predict` take them. */
export interface Batch {
  /** Normalised images, `[batch, 32, 32, 3]`. */
  images: Images;
  /** Class indices, `int32`. */
  labels: tf.Tensor1D;
}

/** Options of {@linkcode imageBatch}. */
export interface ImageBatchOptions {
  /**
   * Random crops and flips drawn from the generator (default true when a
   * generator is given); `false`, or a null generator, copies the images as
   * they are. Settings other than the default go in {@linkcode AugmentConfig}.
   */
  augment?: boolean | AugmentConfig;
}

/**
 * The images of `set` at `indices` as a {@linkcode Batch} of tensors
 * (normalised, augmented with `rng` unless told not to); the caller disposes
 * both tensors, by hand or with `using` (the batch is `Disposable`). This is
 * how training and the examples build every batch.
 *
 * @example A training batch of four random images
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { imageBatch, Rng } from "@vision-attention/sa";
 * const set = { images: new Uint8Array(8 * 3072), labels: new Uint8Array(8), size: 8 };
 * const rng = new Rng(0);
 * const before = tf.memory().numTensors;
 * {
 *   using batch = imageBatch(set, rng.permutation(8).subarray(0, 4), rng);
 *   console.assert(batch.images.shape.join() === "4,32,32,3");
 * }
 * console.assert(tf.memory().numTensors === before); // disposed at the end of the block
 * ```
 */
export function imageBatch(
  set: ImageSet,
  indices: ArrayLike<number>,
  rng: Rng | null,
  options: ImageBatchOptions = {},
): Batch & Disposable {
  const n = indices.length;
  const pixels = new Float32Array(n * 3072), labels = new Int32Array(n);
  const augment = options.augment ?? true;
  const config = typeof augment === "object" ? augment : DEFAULT_AUGMENT;
  fillBatch(set, indices, pixels, labels, augment === false ? null : rng, config);
  const images = brand(tf.tensor4d(pixels, [n, 32, 32, 3]), [
    "batch",
    "height",
    "width",
    "channels",
  ]);
  const labelTensor = tf.tensor1d(labels, "int32");
  return {
    images,
    labels: labelTensor,
    [Symbol.dispose]: () => tf.dispose([images, labelTensor]),
  };
}
