/**
 * A ViT-like encoder-only transformer for small images (Dosovitskiy et al.
 * 2021): patchify, a linear patch embedding, a learnable class token
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
import { initLinear, linear, type LinearParams } from "../layers/linear.ts";
import { initNorm, layerNorm, type NormParams } from "../layers/norm.ts";
import { patchify } from "../layers/patchify.ts";

/** Shape of a ViT. */
export interface ViTConfig {
  imageSize: number;
  channels: number;
  patchSize: number;
  dim: number;
  depth: number;
  heads: number;
  mlpDim: number;
  classes: number;
  dropout?: number;
}

/** Parameters of a ViT: a plain record of tensors. */
export type ViTParams = {
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
  if (config.imageSize % config.patchSize !== 0) {
    throw new Error(
      `ViT: image size ${config.imageSize} is not divisible by patch size ${config.patchSize}`,
    );
  }
  return (config.imageSize / config.patchSize) ** 2;
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
  const patchDim = config.patchSize ** 2 * config.channels;
  return {
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
    const patches = linear(
      params.patchEmbed,
      patchify(images, config.patchSize),
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
  const block = 4 * c.dim + (c.dim * 3 * c.dim + 3 * c.dim) +
    (c.dim * c.dim + c.dim) +
    (c.dim * c.mlpDim + c.mlpDim) + (c.mlpDim * c.dim + c.dim);
  return (c.patchSize ** 2 * c.channels + 1) * c.dim + c.dim + (n + 1) * c.dim +
    c.depth * block + 2 * c.dim +
    (c.dim + 1) * c.classes;
}

/** Forward FLOPs per image (2 per multiply-add, matmuls and attention only). */
export function vitFlops(c: ViTConfig): number {
  const n = numPatches(c), t = n + 1;
  const perBlock = 2 * t * c.dim * (3 * c.dim) + 2 * 2 * t * t * c.dim +
    2 * t * c.dim * c.dim +
    2 * 2 * t * c.dim * c.mlpDim;
  return 2 * n * c.patchSize ** 2 * c.channels * c.dim + c.depth * perBlock +
    2 * c.dim * c.classes;
}
