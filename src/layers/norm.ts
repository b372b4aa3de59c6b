/**
 * Normalisations written by hand: layer norm over the last axis, group norm
 * and batch norm for channels-last feature maps.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  BATCH_NORM,
  BATCH_NORM_GRAD,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  type NormKernelAttrs,
} from "../core/ops.ts";
import { ones, zeros } from "../core/params.ts";
import { cast, checkShape, type Images } from "../core/tensor.ts";

// The fused kernels' names, where the layer has always exported them.
export { BATCH_NORM, BATCH_NORM_GRAD, LAYER_NORM, LAYER_NORM_GRAD };

/** Learnable scale and shift. */
export type NormParams = { scale: tf.Tensor; shift: tf.Tensor };

/** Scale 1, shift 0. */
export function initNorm(dim: number): NormParams {
  return { scale: ones([dim]), shift: zeros([dim]) };
}

/**
 * Layer norm: `(x - mean) / sqrt(var + eps) * scale + shift`, statistics
 * over the last axis (biased variance, as in Ba et al. 2016 and PyTorch).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initNorm, layerNorm } from "./norm.ts";
 * const y = layerNorm(initNorm(3), tf.tensor2d([[1, 2, 3]]));
 * // y ≈ [[-1.2247, 0, 1.2247]]
 * ```
 */
export function layerNorm(
  params: NormParams,
  x: tf.Tensor,
  eps = 1e-5,
): tf.Tensor {
  const d = params.scale.shape[0];
  if (x.shape[x.rank - 1] !== d) {
    throw new Error(
      `layerNorm: input's last axis is ${
        x.shape[x.rank - 1]
      } (shape [${x.shape}]), the parameters expect ${d}`,
    );
  }
  if (tf.getKernel(LAYER_NORM, tf.getBackend())) {
    return tf.tidy(() => {
      const [y] = tf.engine().runKernel(
        LAYER_NORM,
        { x, scale: params.scale, shift: params.shift },
        { eps } satisfies NormKernelAttrs,
      ) as tf.Tensor[];
      return y;
    });
  }
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.mul(centered, centered), -1, true);
    return tf.add(
      tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), params.scale),
      params.shift,
    );
  });
}

// The fused kernels' gradients: one call of the gradient kernel gives all
// three input gradients at once (x through the statistics saved from the forward).
function registerNormGradient(kernelName: string, gradKernel: string): void {
  tf.registerGradient({
    kernelName,
    inputsToSave: ["x", "scale"],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved) => {
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [x, scale, mean, rstd] = saved;
      const [dx, dScale, dShift] = tf.engine().runKernel(gradKernel, {
        dy,
        x,
        mean,
        rstd,
        scale,
      }) as tf.Tensor[];
      return { x: () => dx, scale: () => dScale, shift: () => dShift };
    },
  });
}
registerNormGradient(LAYER_NORM, LAYER_NORM_GRAD);

/**
 * Group norm (Wu & He 2018) over `[batch, height, width, channels]`:
 * statistics per image over the spatial axes and `channels / groups`
 * channels. It needs no running statistics, so training and evaluation
 * compute the same function of the parameters.
 */
export function groupNorm(
  params: NormParams,
  x: Images,
  groups: number,
  eps = 1e-5,
): Images {
  const c = params.scale.shape[0];
  checkShape(
    x,
    ["batch", "height", "width", "channels"],
    [null, null, null, c],
    "groupNorm input",
  );
  if (c % groups !== 0) {
    throw new Error(
      `groupNorm: ${c} channels do not split into ${groups} groups`,
    );
  }
  return cast(tf.tidy(() => {
    const [b, h, w] = x.shape;
    // One group reduces over every axis but the batch: keep that contiguous
    // (a size-1 group axis in the middle makes tfjs transpose first).
    const g = groups === 1 ? x.reshape([b, h * w * c]) : x.reshape([b, h * w, groups, c / groups]); // (B, HWC) or (B, HW, G, C/G)
    const axes = groups === 1 ? [1] : [1, 3];
    const mean = tf.mean(g, axes, true);
    const centered = tf.sub(g, mean);
    const variance = tf.mean(tf.mul(centered, centered), axes, true);
    const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, eps))).reshape([
      b,
      h,
      w,
      c,
    ]);
    return tf.add(tf.mul(normed, params.scale), params.shift);
  }));
}

/** Per-channel population statistics of a batch norm (buffers, not trained). */
export type BatchNormStats = { mean: tf.Tensor; variance: tf.Tensor };

/** Mean 0, variance 1: what a batch norm evaluates with before calibration. */
export function initBatchNormStats(channels: number): BatchNormStats {
  return { mean: zeros([channels]), variance: ones([channels]) };
}

/** Per-channel mean and biased variance over batch, height and width. */
export function batchMoments(x: Images): BatchNormStats {
  return tf.tidy(() => {
    const c = x.shape[3]!;
    const flat = x.reshape([-1, c]); // (BHW, C): reduce over the leading axis
    // Sum then scale: tfjs's Mean over a leading axis transposes first,
    // while Sum over leading axes has a fast kernel on the CPU path.
    // No rows: 0 and 0, as tf.moments gives (not 0/0), so that the
    // gradient over an empty batch is 0 like the fused kernel's.
    const n = Math.max(flat.shape[0], 1);
    const mean = tf.div(tf.sum(flat, 0), n);
    const centered = tf.sub(flat, mean);
    return { mean, variance: tf.div(tf.sum(tf.mul(centered, centered), 0), n) };
  });
}

/**
 * Batch norm (Ioffe & Szegedy 2015) over `[batch, height, width, channels]`.
 * With `stats` null it normalises with this batch's statistics (training);
 * otherwise with the given population statistics (evaluation). Population
 * statistics come from {@linkcode batchMoments} averaged over training
 * batches after training ("precise BN", Wu & Johnson 2021), not from a
 * running average, so they match the final weights exactly.
 */
export function batchNorm(
  params: NormParams,
  x: Images,
  stats: BatchNormStats | null,
  eps = 1e-5,
): Images {
  const c = params.scale.shape[0];
  checkShape(
    x,
    ["batch", "height", "width", "channels"],
    [null, null, null, c],
    "batchNorm input",
  );
  if (stats === null && tf.getKernel(BATCH_NORM, tf.getBackend())) {
    return cast(tf.tidy(() => {
      const [y] = tf.engine().runKernel(
        BATCH_NORM,
        { x, scale: params.scale, shift: params.shift },
        { eps } satisfies NormKernelAttrs,
      ) as tf.Tensor[];
      return y;
    }));
  }
  return cast(tf.tidy(() => {
    const { mean, variance } = stats ?? batchMoments(x);
    const factor = tf.mul(tf.rsqrt(tf.add(variance, eps)), params.scale); // (C,)
    return tf.add(tf.mul(tf.sub(x, mean), factor), params.shift);
  }));
}

registerNormGradient(BATCH_NORM, BATCH_NORM_GRAD);
