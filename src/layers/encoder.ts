/**
 * A pre-norm transformer encoder block: `x + MHA(LN(x))`, then
 * `x + MLP(LN(x))` with a GELU MLP, dropout after each branch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import { cast, type Tokens } from "../core/tensor.ts";
import { dropout, gelu } from "./activations.ts";
import { initMHA, type MHAParams, multiHeadAttention } from "./attention.ts";
import { initLinear, linear, type LinearParams } from "./linear.ts";
import { initNorm, layerNorm, type NormParams } from "./norm.ts";

/** Configuration of {@linkcode encoderBlock}. */
export interface EncoderConfig {
  /** Token width. */
  dim: number;
  /** Attention heads; must divide `dim`. */
  heads: number;
  /** Hidden width of the MLP. */
  mlpDim: number;
  /** Dropout rate after attention and MLP; default 0. */
  dropout?: number;
}

/** Parameters of one encoder block. */
export type EncoderParams = {
  norm1: NormParams;
  attn: MHAParams;
  norm2: NormParams;
  mlp1: LinearParams;
  mlp2: LinearParams;
};

/** Initialise one encoder block. */
export function initEncoderBlock(
  rng: Rng,
  config: EncoderConfig,
): EncoderParams {
  return {
    norm1: initNorm(config.dim),
    attn: initMHA(rng, config),
    norm2: initNorm(config.dim),
    mlp1: initLinear(rng, config.dim, config.mlpDim),
    mlp2: initLinear(rng, config.mlpDim, config.dim),
  };
}

/**
 * One pre-norm encoder block over `[batch, seq, dim]`. `rng` drives dropout
 * during training; pass `null` to evaluate.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Rng } from "../core/rng.ts";
 * import { brand } from "../core/tensor.ts";
 * import { encoderBlock, initEncoderBlock } from "./encoder.ts";
 * const config = { dim: 16, heads: 2, mlpDim: 32 };
 * const x = brand(tf.randomNormal([2, 5, 16]), ["batch", "seq", "dim"]);
 * const y = encoderBlock(initEncoderBlock(new Rng(0), config), x, config);
 * console.assert(y.shape.join() === "2,5,16");
 * ```
 */
export function encoderBlock(
  params: EncoderParams,
  x: Tokens,
  config: EncoderConfig,
  rng: Rng | null = null,
): Tokens {
  const rate = config.dropout ?? 0;
  return cast(tf.tidy(() => {
    const a = multiHeadAttention(
      params.attn,
      cast(layerNorm(params.norm1, x)),
      config,
    );
    const x1 = tf.add(x, dropout(a, rate, rng));
    const m = linear(
      params.mlp2,
      gelu(linear(params.mlp1, layerNorm(params.norm2, x1))),
    );
    return tf.add(x1, dropout(m, rate, rng));
  }));
}
