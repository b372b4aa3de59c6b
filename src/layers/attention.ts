/**
 * Scaled dot-product attention and multi-head self-attention, written from
 * basic ops (Vaswani et al. 2017, "Attention Is All You Need").
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  ATTENTION,
  ATTENTION_GRAD,
  type HeadsKernelAttrs,
  MERGE_HEADS,
  SPLIT_HEADS,
} from "../core/ops.ts";
import type { Rng } from "../core/rng.ts";
import { cast, checkShape, type T, type Tokens } from "../core/tensor.ts";
import { initLinear, linear, type LinearParams } from "./linear.ts";

// The fused kernels' names, where the layer has always exported them.
export { ATTENTION, ATTENTION_GRAD, MERGE_HEADS, SPLIT_HEADS };

/** Queries, keys or values per head: `[batch, heads, seq, dHead]`. */
export type BHSD = T<["batch", "heads", "seq", "dHead"]>;
/** Attention weights: `[batch, heads, nq, nk]`, each row summing to 1. */
export type AttentionWeights = T<["batch", "heads", "nq", "nk"]>;

function checkQK(q: BHSD, k: BHSD): void {
  checkShape(q, ["batch", "heads", "nq", "d"], undefined, "attention query");
  checkShape(k, ["batch", "heads", "nk", "d"], [
    q.shape[0],
    q.shape[1],
    null,
    q.shape[3],
  ], "attention key");
}

/**
 * softmax(q kᵀ / √d) over the last axis: q `[batch, heads, nq, d]`,
 * k `[batch, heads, nk, d]` -> `[batch, heads, nq, nk]`.
 */
export function attentionWeights(q: BHSD, k: BHSD): AttentionWeights {
  checkQK(q, k);
  const d = q.shape[3]!;
  return cast(
    tf.tidy(() => tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)))),
  );
}

/**
 * Scaled dot-product attention: q `[batch, heads, nq, d]`, k
 * `[batch, heads, nk, d]`, v `[batch, heads, nk, dv]` -> `[batch, heads, nq, dv]`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { attention, type BHSD } from "./attention.ts";
 * const q = tf.randomNormal([2, 4, 5, 8]) as BHSD;
 * const out = attention(q, q, q);
 * console.assert(out.shape.join() === "2,4,5,8");
 * ```
 */
export function attention(q: BHSD, k: BHSD, v: BHSD): BHSD {
  checkQK(q, k);
  checkShape(v, ["batch", "heads", "nk", "dv"], [
    q.shape[0],
    q.shape[1],
    k.shape[2],
    null,
  ], "attention value");
  if (q.dtype === "float32" && tf.getKernel(ATTENTION, tf.getBackend())) {
    return cast(tf.tidy(() => {
      const [out] = tf.engine().runKernel(ATTENTION, { q, k, v }) as tf.Tensor[];
      return out; // the weights, its second output, are kept only for the gradient
    }));
  }
  return cast(tf.tidy(() => tf.matMul(attentionWeights(q, k), v)));
}

tf.registerGradient({
  kernelName: ATTENTION,
  inputsToSave: ["q", "k", "v"],
  outputsToSave: [false, true],
  gradFunc: (dys, saved) => {
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [q, k, v, weights] = saved;
    const [dq, dk, dv] = tf.engine().runKernel(ATTENTION_GRAD, {
      dy,
      q,
      k,
      v,
      weights,
    }) as tf.Tensor[];
    return { q: () => dq, k: () => dk, v: () => dv };
  },
});

/** Configuration of {@linkcode multiHeadAttention}. */
export interface MHAConfig {
  /** Model width; must divide by `heads`. */
  dim: number;
  /** Attention heads. */
  heads: number;
}

/** Parameters: one fused q/k/v projection and the output projection. */
export type MHAParams = { qkv: LinearParams; out: LinearParams };

/** Initialise multi-head attention. */
export function initMHA(rng: Rng, config: MHAConfig): MHAParams {
  if (config.dim % config.heads !== 0) {
    throw new Error(
      `multiHeadAttention: dim ${config.dim} does not divide into ${config.heads} heads`,
    );
  }
  return {
    qkv: initLinear(rng, config.dim, 3 * config.dim),
    out: initLinear(rng, config.dim, config.dim),
  };
}

const fusedHeads = (x: tf.Tensor) =>
  x.dtype === "float32" && !!tf.getKernel(SPLIT_HEADS, tf.getBackend());

tf.registerGradient({
  kernelName: SPLIT_HEADS,
  gradFunc: (dys) => {
    const parts = Array.isArray(dys) ? dys : [dys]; // one part: tfjs passes its dy alone
    const dx = tf.engine().runKernel(
      MERGE_HEADS,
      Object.fromEntries(parts.map((t, i) => [String(i), t])),
      { parts: parts.length, heads: parts[0].shape[1]! } satisfies HeadsKernelAttrs,
    ) as tf.Tensor;
    return { x: () => dx };
  },
});

tf.registerGradient({
  kernelName: MERGE_HEADS,
  gradFunc: (dy, _saved, attrs) => {
    const { parts, heads } = attrs as unknown as HeadsKernelAttrs;
    const dxs = tf.engine().runKernel(
      SPLIT_HEADS,
      { x: dy as tf.Tensor },
      { parts, heads } satisfies HeadsKernelAttrs,
    ) as tf.Tensor[];
    return Object.fromEntries(dxs.map((d, i) => [String(i), () => d]));
  },
});

/**
 * `[batch, seq, parts·heads·dHead]` -> `parts` tensors
 * `[batch, heads, seq, dHead]` (the fused q/k/v projection has 3 parts).
 */
export function splitHeadParts(x: tf.Tensor, parts: number, heads: number): BHSD[] {
  const [b, n, d] = x.shape;
  if (d % (parts * heads) !== 0) {
    throw new Error(`splitHeads: width ${d} does not divide into ${parts} x ${heads} heads`);
  }
  if (parts === 1 && heads === 1) return [cast(x.reshape([b, 1, n, d]))]; // no copy needed
  if (fusedHeads(x)) {
    return tf.engine().runKernel(
      SPLIT_HEADS,
      { x },
      { parts, heads } satisfies HeadsKernelAttrs,
    ) as BHSD[];
  }
  return tf.tidy(() => {
    const split = parts === 1 ? [x] : tf.split(x, parts, 2);
    return split.map((t): BHSD =>
      cast(t.reshape([b, n, heads, d / parts / heads]).transpose([0, 2, 1, 3])) // (B, H, N, Dh)
    );
  });
}

/** `[batch, seq, heads*dHead]` -> `[batch, heads, seq, dHead]`. */
export function splitHeads(x: tf.Tensor, heads: number): BHSD {
  return splitHeadParts(x, 1, heads)[0];
}

/** `[batch, heads, seq, dHead]` -> `[batch, seq, heads*dHead]`. */
export function mergeHeads(x: tf.Tensor): Tokens {
  const [b, h, n, dh] = x.shape;
  if (h === 1) return cast(x.reshape([b, n, dh])); // no copy needed
  if (fusedHeads(x)) {
    return tf.engine().runKernel(
      MERGE_HEADS,
      { 0: x },
      { parts: 1, heads: h } satisfies HeadsKernelAttrs,
    ) as Tokens;
  }
  return cast(x.transpose([0, 2, 1, 3]).reshape([b, n, h * dh])); // (B, N, H*Dh)
}

/** The per-head queries, keys and values of `x`. */
export function projectQKV(
  params: MHAParams,
  x: Tokens,
  config: MHAConfig,
): [BHSD, BHSD, BHSD] {
  checkShape(
    x,
    ["batch", "seq", "dim"],
    [null, null, config.dim],
    "multiHeadAttention input",
  );
  const qkv = linear(params.qkv, x); // (B, N, 3D)
  const heads = splitHeadParts(qkv, 3, config.heads); // 3 x (B, H, N, Dh)
  qkv.dispose();
  return heads as [BHSD, BHSD, BHSD];
}

/**
 * Multi-head self-attention over tokens `[batch, seq, dim]`: fused q/k/v
 * projection, split into heads, {@linkcode attention}, merge, project.
 */
export function multiHeadAttention(
  params: MHAParams,
  x: Tokens,
  config: MHAConfig,
): Tokens {
  return cast(tf.tidy(() => {
    const [q, k, v] = projectQKV(params, x, config);
    return linear(params.out, mergeHeads(attention(q, k, v)));
  }));
}

/** The attention weights of every head, `[batch, heads, seq, seq]` (for maps). */
export function selfAttentionWeights(
  params: MHAParams,
  x: Tokens,
  config: MHAConfig,
): AttentionWeights {
  return cast(tf.tidy(() => {
    const [q, k] = projectQKV(params, x, config);
    return attentionWeights(q, k);
  }));
}
