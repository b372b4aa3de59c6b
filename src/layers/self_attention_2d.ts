/**
 * Self-attention for CNN feature maps, in the SAGAN / non-local style
 * (Zhang et al. 2019, "Self-Attention Generative Adversarial Networks";
 * Wang et al. 2018, "Non-local Neural Networks"): 1x1 projections to queries
 * and keys (C/8 channels by default) and values, attention over all H·W
 * positions, an output projection, and a residual scaled by a learnable
 * gamma that starts at 0, so the layer starts as the identity.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import { zeros } from "../core/params.ts";
import { cast, checkShape, type Images } from "../core/tensor.ts";
import {
  attention,
  type AttentionWeights,
  attentionWeights,
  type BHSD,
  mergeHeads,
  splitHeads,
} from "./attention.ts";
import { initLinear, linear, type LinearParams } from "./linear.ts";

/** Configuration of {@linkcode selfAttention2d}. */
export interface SelfAttention2dConfig {
  /** Channels of the feature map, in and out. */
  channels: number;
  /** Query/key width; default `channels / 8` (at least 1 per head). */
  qkChannels?: number;
  /** Attention heads; default 1. */
  heads?: number;
}

/** Parameters: 1x1 projections (as linear maps over channels) and gamma. */
export type SelfAttention2dParams = {
  q: LinearParams;
  k: LinearParams;
  v: LinearParams;
  out: LinearParams;
  gamma: tf.Tensor;
};

function dims(
  config: SelfAttention2dConfig,
): { c: number; cqk: number; heads: number } {
  const heads = config.heads ?? 1;
  const cqk = config.qkChannels ??
    Math.max(heads, Math.floor(config.channels / 8));
  if (cqk % heads !== 0 || config.channels % heads !== 0) {
    throw new Error(
      `selfAttention2d: ${config.channels} value and ${cqk} query channels must both divide into ${heads} heads`,
    );
  }
  return { c: config.channels, cqk, heads };
}

/** Initialise the layer; gamma starts at 0. */
export function initSelfAttention2d(
  rng: Rng,
  config: SelfAttention2dConfig,
): SelfAttention2dParams {
  const { c, cqk } = dims(config);
  const std = 1 / Math.sqrt(c);
  return {
    q: initLinear(rng, c, cqk, std),
    k: initLinear(rng, c, cqk, std),
    v: initLinear(rng, c, c, std),
    out: initLinear(rng, c, c, std),
    gamma: zeros([]),
  };
}

function queriesKeys(
  params: SelfAttention2dParams,
  x: Images,
  config: SelfAttention2dConfig,
): [BHSD, BHSD, tf.Tensor] {
  checkShape(x, ["batch", "height", "width", "channels"], [
    null,
    null,
    null,
    config.channels,
  ], "selfAttention2d input");
  const { heads } = dims(config);
  const [b, h, w, c] = x.shape;
  const tokens = x.reshape([b, h * w, c]); // (B, HW, C)
  return [
    splitHeads(linear(params.q, tokens), heads),
    splitHeads(linear(params.k, tokens), heads),
    tokens,
  ];
}

/**
 * `x + gamma · out(attention(q(x), k(x), v(x)))` over `[batch, height,
 * width, channels]`; every position attends to every position.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Rng } from "../core/rng.ts";
 * import { brand } from "../core/tensor.ts";
 * import { initSelfAttention2d, selfAttention2d } from "./self_attention_2d.ts";
 * const config = { channels: 16 };
 * const x = brand(tf.randomNormal([2, 4, 4, 16]), ["batch", "height", "width", "channels"]);
 * const y = selfAttention2d(initSelfAttention2d(new Rng(0), config), x, config);
 * console.assert(y.shape.join() === "2,4,4,16");
 * ```
 */
export function selfAttention2d(
  params: SelfAttention2dParams,
  x: Images,
  config: SelfAttention2dConfig,
): Images {
  return cast(tf.tidy(() => {
    const [q, k, tokens] = queriesKeys(params, x, config);
    const v = splitHeads(linear(params.v, tokens), dims(config).heads); // (B, heads, HW, C/heads)
    const o = linear(params.out, mergeHeads(attention(q, k, v))); // (B, HW, C)
    return tf.add(x, tf.mul(params.gamma, o.reshape(x.shape)));
  }));
}

/** Attention weights `[batch, heads, H·W, H·W]` of the layer (for maps). */
export function selfAttention2dWeights(
  params: SelfAttention2dParams,
  x: Images,
  config: SelfAttention2dConfig,
): AttentionWeights {
  return cast(tf.tidy(() => {
    const [q, k] = queriesKeys(params, x, config);
    return attentionWeights(q, k);
  }));
}
