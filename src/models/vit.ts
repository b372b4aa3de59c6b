/**
 * A ViT-like encoder-only transformer for small images (Dosovitskiy et al.
 * 2021): an optional small convolutional tokenizer (as in CCT, Hassani et al.
 * 2021), patchify, a linear patch embedding, a learnable class token
 * prepended, learnable position embeddings, pre-norm encoder blocks, a final
 * layer norm and a linear head on the class token.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import { truncNormal } from "../core/params.ts";
import { cast, checkShape, type Images, type Logits, type Tokens } from "../core/tensor.ts";
import { type AttentionWeights, selfAttentionWeights } from "../layers/attention.ts";
import {
  encoderBlock,
  type EncoderConfig,
  type EncoderParams,
  initEncoderBlock,
} from "../layers/encoder.ts";
import { conv2d, type ConvParams, initConv } from "../layers/conv.ts";
import { initLinear, linear, type LinearParams } from "../layers/linear.ts";
import { initNorm, layerNorm, type NormParams } from "../layers/norm.ts";
import { patchify } from "../layers/patchify.ts";
import { maxPool2x2 } from "../layers/pool.ts";

/** Shape of a ViT. */
export interface ViTConfig {
  /** Side of the square input images, in pixels. */
  imageSize: number;
  /** Colour channels of the images. */
  channels: number;
  /** Side of a square patch (of the image, or of the tokenizer's feature map). */
  patchSize: number;
  /** Token width. */
  dim: number;
  /** Encoder blocks. */
  depth: number;
  /** Attention heads per block. */
  heads: number;
  /** Hidden width of each block's MLP. */
  mlpDim: number;
  /** Output classes. */
  classes: number;
  /** Dropout rate in training; default 0. */
  dropout?: number;
  /**
   * Widths of a convolutional tokenizer run before patchify: each entry is a
   * 3x3 conv, ReLU and 2x2 max-pool, so patches are cut from a feature map
   * `2^length` times smaller than the image. Empty or absent: plain ViT.
   */
  tokenizer?: number[];
}

/** Parameters of a ViT: a plain record of tensors. */
export type ViTParams = {
  /** The convolutional tokenizer's convs; only when `config.tokenizer` is set. */
  tokenizer?: ConvParams[];
  patchEmbed: LinearParams;
  /** `[1, 1, dim]` */
  classToken: tf.Tensor;
  /** `[1, 1 + patches, dim]` */
  posEmbed: tf.Tensor;
  blocks: EncoderParams[];
  norm: NormParams;
  head: LinearParams;
};

/** Number of patch tokens (the class token not included). */
export function numPatches(config: ViTConfig): number {
  if (!Number.isInteger(config.patchSize) || config.patchSize < 1) {
    throw new Error(
      `ViT: the config has patchSize ${config.patchSize}, so it is not a ViT's config ` +
        `(a CNN's config, with stages, goes to cnn(); see VIT_PRESETS for ViT configs)`,
    );
  }
  const size = featureSize(config);
  if (size % config.patchSize !== 0) {
    throw new Error(
      `ViT: ${
        config.tokenizer?.length ? `tokenizer output size ${size}` : `image size ${size}`
      } is not divisible by patch size ${config.patchSize}`,
    );
  }
  return (size / config.patchSize) ** 2;
}

/** Height and width of what patchify cuts: the image, or the tokenizer's output. */
function featureSize(config: ViTConfig): number {
  const pools = config.tokenizer?.length ?? 0;
  if (config.imageSize % 2 ** pools !== 0) {
    throw new Error(
      `ViT: image size ${config.imageSize} does not halve ${pools} times for the tokenizer`,
    );
  }
  return config.imageSize / 2 ** pools;
}

/** Channels of what patchify cuts. */
function featureChannels(config: ViTConfig): number {
  return config.tokenizer?.at(-1) ?? config.channels;
}

function encoderConfig(config: ViTConfig): EncoderConfig {
  return {
    dim: config.dim,
    heads: config.heads,
    mlpDim: config.mlpDim,
    dropout: config.dropout,
  };
}

/** Initialise a ViT from a seeded generator (same seed, same parameters). */
export function initViT(rng: Rng, config: ViTConfig): ViTParams {
  const patchDim = config.patchSize ** 2 * featureChannels(config);
  let cIn = config.channels;
  const tokenizer = config.tokenizer?.length
    ? {
      tokenizer: config.tokenizer.map((width) => {
        const conv = initConv(rng, 3, cIn, width);
        cIn = width;
        return conv;
      }),
    }
    : {};
  return {
    ...tokenizer,
    patchEmbed: initLinear(rng, patchDim, config.dim, 1 / Math.sqrt(patchDim)),
    classToken: truncNormal(rng, [1, 1, config.dim], 0.02),
    posEmbed: truncNormal(rng, [1, 1 + numPatches(config), config.dim], 0.02),
    blocks: Array.from(
      { length: config.depth },
      () => initEncoderBlock(rng, encoderConfig(config)),
    ),
    norm: initNorm(config.dim),
    head: initLinear(rng, config.dim, config.classes),
  };
}

/** Tokens after embedding: class token + patches, plus positions. */
export function embed(
  params: ViTParams,
  images: Images,
  config: ViTConfig,
): Tokens {
  checkShape(
    images,
    ["batch", "height", "width", "channels"],
    [null, config.imageSize, config.imageSize, config.channels],
    "ViT input",
  );
  return cast(tf.tidy(() => {
    const b = images.shape[0];
    let x = images;
    for (const conv of params.tokenizer ?? []) {
      x = maxPool2x2(cast(tf.relu(conv2d(conv, x)))); // (B, H/2, W/2, width)
    }
    const patches = linear(
      params.patchEmbed,
      patchify(x, config.patchSize),
    ); // (B, N, D)
    const cls = tf.tile(params.classToken, [b, 1, 1]); // (B, 1, D)
    return tf.add(tf.concat([cls, patches], 1), params.posEmbed); // (B, 1+N, D)
  }));
}

/**
 * Class logits `[batch, classes]` for images `[batch, H, W, C]`. `rng`
 * drives dropout in training; `null` evaluates.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Rng } from "../core/rng.ts";
 * import { brand } from "../core/tensor.ts";
 * import { initViT, vit } from "./vit.ts";
 * const config = { imageSize: 8, channels: 3, patchSize: 4, dim: 16, depth: 1, heads: 2, mlpDim: 32, classes: 10 };
 * const images = brand(tf.zeros([2, 8, 8, 3]), ["batch", "height", "width", "channels"]);
 * console.assert(vit(initViT(new Rng(0), config), images, config).shape.join() === "2,10");
 * ```
 */
export function vit(
  params: ViTParams,
  images: Images,
  config: ViTConfig,
  rng: Rng | null = null,
): Logits {
  numPatches(config); // a wrong config fails here, naming what it is
  return cast(tf.tidy(() => {
    let x = embed(params, images, config);
    for (const block of params.blocks) {
      x = encoderBlock(block, x, encoderConfig(config), rng);
    }
    const cls = x.slice([0, 0, 0], [-1, 1, -1]).reshape([
      x.shape[0],
      config.dim,
    ]); // (B, D)
    return linear(params.head, layerNorm(params.norm, cls));
  }));
}

/** Each block's attention weights `[batch, heads, 1+N, 1+N]`, for maps. */
export function vitAttentionMaps(
  params: ViTParams,
  images: Images,
  config: ViTConfig,
): AttentionWeights[] {
  const maps: AttentionWeights[] = [];
  tf.tidy(() => {
    let x = embed(params, images, config);
    for (const block of params.blocks) {
      maps.push(
        tf.keep(
          selfAttentionWeights(
            block.attn,
            cast(layerNorm(block.norm1, x)),
            config,
          ),
        ),
      );
      x = encoderBlock(block, x, encoderConfig(config));
    }
  });
  return maps;
}

/** Exact parameter count of a ViT, by formula (tested against the record). */
export function vitParamCount(c: ViTConfig): number {
  const n = numPatches(c);
  let tokenizer = 0, cIn = c.channels;
  for (const width of c.tokenizer ?? []) {
    tokenizer += 9 * cIn * width + width;
    cIn = width;
  }
  const block = 4 * c.dim + (c.dim * 3 * c.dim + 3 * c.dim) +
    (c.dim * c.dim + c.dim) +
    (c.dim * c.mlpDim + c.mlpDim) + (c.mlpDim * c.dim + c.dim);
  return tokenizer + (c.patchSize ** 2 * featureChannels(c) + 1) * c.dim + c.dim +
    (n + 1) * c.dim +
    c.depth * block + 2 * c.dim +
    (c.dim + 1) * c.classes;
}

/** Forward FLOPs per image (2 per multiply-add, matmuls and attention only). */
export function vitFlops(c: ViTConfig): number {
  const n = numPatches(c), t = n + 1;
  const perBlock = 2 * t * c.dim * (3 * c.dim) + 2 * 2 * t * t * c.dim +
    2 * t * c.dim * c.dim +
    2 * 2 * t * c.dim * c.mlpDim;
  let tokenizer = 0, cIn = c.channels, size = c.imageSize;
  for (const width of c.tokenizer ?? []) {
    tokenizer += 2 * size ** 2 * 9 * cIn * width;
    cIn = width;
    size /= 2;
  }
  return tokenizer + 2 * n * c.patchSize ** 2 * featureChannels(c) * c.dim +
    c.depth * perBlock +
    2 * c.dim * c.classes;
}
