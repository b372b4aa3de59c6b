/**
 * 2-D convolution over channels-last images, wrapping `tf.conv2d`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import { heNormal, zeros } from "../core/params.ts";
import { cast, checkShape, type Images } from "../core/tensor.ts";

/** Parameters of {@linkcode conv2d}: `w` is `[k, k, cIn, cOut]`, `b` is `[cOut]`. */
export type ConvParams = { w: tf.Tensor; b: tf.Tensor };

/** He-initialised square convolution. */
export function initConv(
  rng: Rng,
  kernel: number,
  cIn: number,
  cOut: number,
): ConvParams {
  return {
    w: heNormal(rng, [kernel, kernel, cIn, cOut], kernel * kernel * cIn),
    b: zeros([cOut]),
  };
}

/**
 * Convolve `x` `[batch, height, width, cIn]` with "same" padding and the
 * given stride.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Rng } from "../core/rng.ts";
 * import { brand } from "../core/tensor.ts";
 * import { conv2d, initConv } from "./conv.ts";
 * const x = brand(tf.ones([1, 8, 8, 3]), ["batch", "height", "width", "channels"]);
 * const y = conv2d(initConv(new Rng(0), 3, 3, 16), x);
 * console.assert(y.shape.join() === "1,8,8,16");
 * ```
 */
export function conv2d(params: ConvParams, x: Images, stride = 1): Images {
  checkShape(x, ["batch", "height", "width", "channels"], [
    null,
    null,
    null,
    params.w.shape[2],
  ], "conv2d input");
  return cast(
    tf.tidy(() =>
      tf.add(
        tf.conv2d(x as tf.Tensor4D, params.w as tf.Tensor4D, stride, "same"),
        params.b,
      )
    ),
  );
}
