/**
 * Cut images into non-overlapping square patches (Dosovitskiy et al. 2021,
 * "An Image is Worth 16x16 Words").
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { cast, checkShape, type Images, type T } from "../core/tensor.ts";

/** Flattened patches: `[batch, patches, patchSize·patchSize·channels]`. */
export type Patches = T<["batch", "patches", "patchDim"]>;

/**
 * `[batch, height, width, channels]` -> `[batch, (height/p)·(width/p), p·p·channels]`.
 * Patches in row-major order (top-left first, then left to right); inside a
 * patch, element `(dy·p + dx)·channels + c`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand } from "../core/tensor.ts";
 * import { patchify } from "./patchify.ts";
 * const images = brand(tf.zeros([2, 32, 32, 3]), ["batch", "height", "width", "channels"]);
 * console.assert(patchify(images, 4).shape.join() === "2,64,48");
 * ```
 */
export function patchify(images: Images, patchSize: number): Patches {
  checkShape(
    images,
    ["batch", "height", "width", "channels"],
    undefined,
    "patchify input",
  );
  const [b, h, w, c] = images.shape;
  const p = patchSize;
  if (!Number.isInteger(p) || p < 1 || h % p !== 0 || w % p !== 0) {
    throw new Error(
      `patchify: image height ${h} and width ${w} must both be divisible by the patch size ${p}`,
    );
  }
  return cast(
    images
      .reshape([b, h / p, p, w / p, p, c]) // (B, H/p, dy, W/p, dx, C)
      .transpose([0, 1, 3, 2, 4, 5]) // (B, H/p, W/p, dy, dx, C)
      .reshape([b, (h / p) * (w / p), p * p * c]), // (B, patches, p·p·C)
  );
}

/** The inverse of {@linkcode patchify} for images of `height` x `width`. */
export function unpatchify(
  patches: Patches,
  patchSize: number,
  height: number,
  width: number,
): Images {
  const [b, n, d] = patches.shape;
  const p = patchSize;
  const c = d / (p * p);
  if (n !== (height / p) * (width / p) || !Number.isInteger(c)) {
    throw new Error(
      `unpatchify: ${n} patches of ${d} values do not make ${height}x${width} images with patch size ${p}`,
    );
  }
  return cast(
    (patches as tf.Tensor)
      .reshape([b, height / p, width / p, p, p, c]) // (B, H/p, W/p, dy, dx, C)
      .transpose([0, 1, 3, 2, 4, 5]) // (B, H/p, dy, W/p, dx, C)
      .reshape([b, height, width, c]),
  );
}
