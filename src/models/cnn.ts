/**
 * CNN-SA: a convolutional network with hand-written self-attention layers.
 * A stem conv, four stages of [conv, (2x2 max-pool), self-attention], a final
 * conv, global average pooling and a linear head. Each conv is followed by
 * a norm and ReLU: group norm (no statistics to keep), or batch norm with its
 * population statistics kept as buffers under `stats`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import { cast, checkShape, type Images, type Logits } from "../core/tensor.ts";
import { conv2d, type ConvParams, initConv } from "../layers/conv.ts";
import { initLinear, linear, type LinearParams } from "../layers/linear.ts";
import { maxPool2x2 } from "../layers/pool.ts";
import {
  batchMoments,
  batchNorm,
  type BatchNormStats,
  groupNorm,
  initBatchNormStats,
  initNorm,
  type NormParams,
} from "../layers/norm.ts";
import {
  initSelfAttention2d,
  selfAttention2d,
  type SelfAttention2dConfig,
  type SelfAttention2dParams,
  selfAttention2dWeights,
} from "../layers/self_attention_2d.ts";
import type { AttentionWeights } from "../layers/attention.ts";

/** One stage: a 3x3 conv to `width` channels, optional pooling, optional attention. */
export interface StageConfig {
  /** Output channels of the stage's conv. */
  width: number;
  /** 2x2 max-pool after the conv (halves height and width). */
  downsample: boolean;
  /** A {@linkcode selfAttention2d} layer after the conv (and pooling). */
  attention: boolean;
}

/** Shape of a CNN-SA. */
export interface CNNConfig {
  /** Side of the square input images, in pixels. */
  imageSize: number;
  /** Colour channels of the images. */
  channels: number;
  /** Output channels of the stem conv. */
  stemWidth: number;
  /** The stages, in order. */
  stages: StageConfig[];
  /** Width of the final 3x3 conv before pooling. */
  finalWidth: number;
  /** Heads of every self-attention layer. */
  heads: number;
  /** Groups of every group norm. */
  groups: number;
  /**
   * `group` (default): conv, group norm, ReLU, then pooling. `batch`: conv,
   * pooling, batch norm, ReLU (normalising after pooling costs a quarter).
   */
  norm?: "group" | "batch";
  /** Output classes. */
  classes: number;
}

/** How the norms run: batch statistics (`train`), kept ones (`eval`), or recorded (`collect`). */
export type CNNMode = "train" | "eval" | { collect: BatchNormStats[] };

/** A conv and the norm after it (group or batch norm: same scale and shift). */
export type ConvNormParams = { conv: ConvParams; norm: NormParams };

/** Parameters of a CNN-SA: a plain record of tensors. */
export type CNNParams = {
  stem: ConvNormParams;
  stages: { conv: ConvNormParams; attn?: SelfAttention2dParams }[];
  final: ConvNormParams;
  head: LinearParams;
  /** Batch-norm population statistics, one per conv (stem, stages, final); `norm: "batch"` only. */
  stats?: BatchNormStats[];
};

function initConvNorm(rng: Rng, cIn: number, cOut: number): ConvNormParams {
  return { conv: initConv(rng, 3, cIn, cOut), norm: initNorm(cOut) };
}

function attnConfig(
  config: CNNConfig,
  channels: number,
): SelfAttention2dConfig {
  return { channels, heads: config.heads };
}

/** Initialise a CNN-SA from a seeded generator. */
export function initCNN(rng: Rng, config: CNNConfig): CNNParams {
  let cIn = config.stemWidth;
  const stem = initConvNorm(rng, config.channels, cIn);
  const stages = config.stages.map((s) => {
    const conv = initConvNorm(rng, cIn, s.width);
    cIn = s.width;
    return s.attention
      ? { conv, attn: initSelfAttention2d(rng, attnConfig(config, s.width)) }
      : { conv };
  });
  const final = initConvNorm(rng, cIn, config.finalWidth);
  const params: CNNParams = {
    stem,
    stages,
    final,
    head: initLinear(rng, config.finalWidth, config.classes, 0.01),
  };
  if (config.norm !== "batch") return params;
  const widths = [config.stemWidth, ...config.stages.map((s) => s.width), config.finalWidth];
  return { ...params, stats: widths.map(initBatchNormStats) };
}

/** The conv blocks in order (stem, stages, final): conv, norm, ReLU, optional pooling. */
function convBlocks(params: CNNParams, config: CNNConfig, mode: CNNMode) {
  let index = 0;
  return (p: ConvNormParams, x: Images, pool: boolean): Images => {
    const i = index++;
    const y = conv2d(p.conv, x);
    if (config.norm !== "batch") {
      const z: Images = cast(tf.relu(groupNorm(p.norm, y, config.groups)));
      return pool ? maxPool2x2(z) : z;
    }
    const pooled = pool ? maxPool2x2(y) : y;
    let stats: BatchNormStats | null = null;
    if (mode === "eval") {
      stats = params.stats?.[i] ?? null;
      if (!stats) {
        throw new Error("CNN: a batch-norm model evaluates with params.stats, and has none");
      }
    } else if (mode !== "train") {
      // The batch's own moments: record them and normalise with them, which
      // is what training mode computes, without computing them twice.
      stats = batchMoments(pooled);
      mode.collect.push({ mean: tf.keep(stats.mean), variance: tf.keep(stats.variance) });
    }
    return cast(tf.relu(batchNorm(p.norm, pooled, stats)));
  };
}

/**
 * The feature map before pooling and the head; `onAttention` sees each
 * attention layer's input, and `mode` says how batch norms get statistics.
 */
function features(
  params: CNNParams,
  images: Images,
  config: CNNConfig,
  mode: CNNMode,
  onAttention?: (stage: number, p: SelfAttention2dParams, x: Images) => void,
): Images {
  checkShape(
    images,
    ["batch", "height", "width", "channels"],
    [null, config.imageSize, config.imageSize, config.channels],
    "CNN input",
  );
  const block = convBlocks(params, config, mode);
  let x = block(params.stem, images, false);
  config.stages.forEach((s, i) => {
    const p = params.stages[i];
    x = block(p.conv, x, s.downsample);
    if (p.attn) {
      onAttention?.(i, p.attn, x);
      x = selfAttention2d(p.attn, x, attnConfig(config, s.width));
    }
  });
  return block(params.final, x, false);
}

/**
 * Class logits `[batch, classes]` for images `[batch, H, W, C]`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Rng } from "../core/rng.ts";
 * import { brand } from "../core/tensor.ts";
 * import { cnn, initCNN } from "./cnn.ts";
 * const config = {
 *   imageSize: 8, channels: 3, stemWidth: 8, finalWidth: 16, heads: 1, groups: 4, classes: 10,
 *   stages: [{ width: 8, downsample: true, attention: true }],
 * };
 * const images = brand(tf.zeros([2, 8, 8, 3]), ["batch", "height", "width", "channels"]);
 * console.assert(cnn(initCNN(new Rng(0), config), images, config).shape.join() === "2,10");
 * ```
 */
export function cnn(
  params: CNNParams,
  images: Images,
  config: CNNConfig,
  mode: "train" | "eval" = "eval",
): Logits {
  if (!Array.isArray(config.stages)) {
    throw new Error(
      "CNN: the config has no stages, so it is not a CNN's config (a ViT's config, with " +
        "patchSize, goes to vit(); see CNN_PRESETS for CNN configs)",
    );
  }
  return cast(tf.tidy(() => {
    const x = features(params, images, config, mode);
    return linear(params.head, tf.mean(x, [1, 2])); // global average pool -> (B, C) -> (B, classes)
  }));
}

/**
 * Population statistics for a batch-norm CNN ("precise BN"): each norm's
 * per-channel mean and variance over all of `batches` (training images, no
 * augmentation), each layer normalised with batch statistics as in
 * training. Returns new tensors; the caller owns them.
 */
export function cnnBatchNormStats(
  params: CNNParams,
  batches: Images[],
  config: CNNConfig,
): BatchNormStats[] {
  if (config.norm !== "batch") throw new Error("cnnBatchNormStats: the CNN has no batch norms");
  if (batches.length === 0) throw new Error("cnnBatchNormStats: no batches to measure");
  const perBatch = batches.map((images) => {
    const collect: BatchNormStats[] = [];
    tf.tidy(() => void features(params, images, config, { collect }));
    return collect;
  });
  // Over the union of the batches: E[x] = mean of the batch means and
  // Var[x] = E[var_b + mean_b²] - E[x]² (equal-size batches).
  const stats = tf.tidy(() =>
    perBatch[0].map((_, layer) => {
      const means = tf.stack(perBatch.map((b) => b[layer].mean));
      const vars = tf.stack(perBatch.map((b) => b[layer].variance));
      const mean = tf.mean(means, 0);
      const second = tf.mean(tf.add(vars, tf.square(means)), 0);
      return { mean, variance: tf.relu(tf.sub(second, tf.square(mean))) };
    })
  );
  perBatch.forEach((b) => b.forEach((s) => tf.dispose([s.mean, s.variance])));
  return stats;
}

/** Attention weights `[batch, heads, HW, HW]` of each attending stage, for maps. */
export function cnnAttentionMaps(
  params: CNNParams,
  images: Images,
  config: CNNConfig,
): { stage: number; size: number; weights: AttentionWeights }[] {
  const maps: { stage: number; size: number; weights: AttentionWeights }[] = [];
  tf.tidy(() => {
    features(params, images, config, "eval", (stage, p, x) => {
      const weights = tf.keep(
        selfAttention2dWeights(
          p,
          x,
          attnConfig(config, config.stages[stage].width),
        ),
      );
      maps.push({ stage, size: x.shape[1]!, weights });
    });
  });
  return maps;
}

/** Spatial size at the input of each stage's attention, and at the end. */
function stageSizes(c: CNNConfig): number[] {
  let size = c.imageSize;
  return c.stages.map((s) => (size = s.downsample ? size / 2 : size));
}

/** Exact parameter count of a CNN-SA, by formula (tested against the record). */
export function cnnParamCount(c: CNNConfig): number {
  const convNorm = (i: number, o: number) => 9 * i * o + o + 2 * o;
  let total = convNorm(c.channels, c.stemWidth);
  let cIn = c.stemWidth;
  for (const s of c.stages) {
    total += convNorm(cIn, s.width);
    if (s.attention) {
      const cqk = Math.max(c.heads, Math.floor(s.width / 8));
      total += 2 * (s.width * cqk + cqk) + 2 * (s.width * s.width + s.width) +
        1;
    }
    cIn = s.width;
  }
  return total + convNorm(cIn, c.finalWidth) + (c.finalWidth + 1) * c.classes;
}

/** Forward FLOPs per image (2 per multiply-add: convs, projections, attention). */
export function cnnFlops(c: CNNConfig): number {
  const sizes = stageSizes(c);
  let flops = 2 * c.imageSize ** 2 * 9 * c.channels * c.stemWidth;
  let cIn = c.stemWidth, size = c.imageSize;
  c.stages.forEach((s, i) => {
    flops += 2 * size ** 2 * 9 * cIn * s.width;
    size = sizes[i];
    if (s.attention) {
      const n = size * size, cqk = Math.max(c.heads, Math.floor(s.width / 8));
      flops += 2 * n * s.width * (2 * cqk + 2 * s.width) +
        2 * n * n * (cqk + s.width);
    }
    cIn = s.width;
  });
  return flops + 2 * size ** 2 * 9 * cIn * c.finalWidth +
    2 * c.finalWidth * c.classes;
}
