/**
 * The library's custom tfjs ops: each kernel's name and the attributes it
 * takes. The layers and AdamW run them where a backend registers them; the
 * backends (the fast CPU path, WebGPU) register them. Both import this
 * module, so no backend reaches up into the layers or training to learn a
 * name.
 *
 * @module
 */

/**
 * A fused GELU kernel a backend may register (the fast CPU path does): input
 * `x`, output `gelu(x)`, the same tanh form as the layer's ops. Where it is
 * registered, the `gelu` layer runs it, and its gradient is
 * {@linkcode GELU_GRAD}.
 */
export const GELU = "VisionAttentionGelu";

/** The fused GELU's gradient kernel: inputs `dy`, `x`; output `dy · gelu'(x)`. */
export const GELU_GRAD = "VisionAttentionGeluGrad";

/**
 * A fused attention kernel a backend may register (the fast CPU path does):
 * inputs `q`, `k`, `v` as in the `attention` layer; outputs the attention
 * and its weights `softmax(q kᵀ/√d)`. Its gradient is {@linkcode ATTENTION_GRAD}.
 */
export const ATTENTION = "VisionAttentionAttention";

/**
 * The fused attention's gradient kernel: inputs `dy`, `q`, `k`, `v` and the
 * saved `weights`; outputs `dq`, `dk`, `dv`.
 */
export const ATTENTION_GRAD = "VisionAttentionAttentionGrad";

/**
 * A kernel a backend may register (the fast CPU path does) that splits
 * `[batch, seq, parts·heads·dHead]` into `parts` tensors
 * `[batch, heads, seq, dHead]` in one copy: input `x`, attrs
 * {@linkcode HeadsKernelAttrs}. Its gradient is {@linkcode MERGE_HEADS}, and
 * the other way round.
 */
export const SPLIT_HEADS = "VisionAttentionSplitHeads";

/**
 * The inverse of {@linkcode SPLIT_HEADS}: inputs `0`…`parts-1`, each
 * `[batch, heads, seq, dHead]`, attrs {@linkcode HeadsKernelAttrs}; output
 * `[batch, seq, parts·heads·dHead]`.
 */
export const MERGE_HEADS = "VisionAttentionMergeHeads";

/** The attributes of {@linkcode SPLIT_HEADS} and {@linkcode MERGE_HEADS}. */
export interface HeadsKernelAttrs {
  /** How many tensors the width holds side by side (3 for a fused q/k/v). */
  parts: number;
  /** Attention heads per part. */
  heads: number;
}

/**
 * A fused layer-norm kernel a backend may register (the fast CPU path does):
 * inputs `x`, `scale`, `shift`, attrs {@linkcode NormKernelAttrs}; outputs
 * `y` and each row's mean and `1/√(σ² + eps)`. Where it is registered, the
 * `layerNorm` layer runs it instead of its ops, and its gradient is
 * {@linkcode LAYER_NORM_GRAD}.
 */
export const LAYER_NORM = "VisionAttentionLayerNorm";

/**
 * The fused layer norm's gradient kernel: inputs `dy`, `x`, `mean`, `rstd`,
 * `scale`; outputs `dx`, `dscale`, `dshift`.
 */
export const LAYER_NORM_GRAD = "VisionAttentionLayerNormGrad";

/**
 * A fused batch-norm kernel (batch statistics, for training) a backend may
 * register (the fast CPU path does): inputs `x`, `scale`, `shift`, attrs
 * {@linkcode NormKernelAttrs}; outputs `y` and each channel's batch mean and
 * `1/√(σ² + eps)`. Where it is registered, the `batchNorm` layer without
 * `stats` runs it instead of its ops, and its gradient is
 * {@linkcode BATCH_NORM_GRAD}.
 */
export const BATCH_NORM = "VisionAttentionBatchNorm";

/**
 * The fused batch norm's gradient kernel: inputs `dy`, `x`, `mean`, `rstd`,
 * `scale`; outputs `dx`, `dscale`, `dshift`.
 */
export const BATCH_NORM_GRAD = "VisionAttentionBatchNormGrad";

/** The attributes of {@linkcode LAYER_NORM} and {@linkcode BATCH_NORM}. */
export interface NormKernelAttrs {
  /** Added to the variance before its root. */
  eps: number;
}

/**
 * An optional fused AdamW kernel a backend may register under this name
 * (the WebGPU backend does): inputs `{ param, grad, m, v, sumSq }` (`sumSq`
 * the gradients' global sum of squares, one element), attributes
 * {@linkcode AdamWKernelAttrs}, outputs `[param, m, v]`, the same
 * arithmetic as `adamwStep`'s tensor form in a few dispatches.
 */
export const ADAMW_KERNEL = "VisionAttentionAdamW";

/** The step's numbers, as the fused kernel takes them. */
export interface AdamWKernelAttrs {
  /** Learning rate of this step. */
  lr: number;
  /** Decay of the first moment. */
  beta1: number;
  /** Decay of the second moment. */
  beta2: number;
  /** Added to the root of the second moment. */
  eps: number;
  /** `1 - lr * weightDecay` for a decayed parameter, else 1. */
  keep: number;
  /** Gradients are scaled so that their global norm is at most this (0: no clipping). */
  clipNorm: number;
  /** Bias correction of the first moment, `1 - beta1 ** step`. */
  bc1: number;
  /** Bias correction of the second moment, `1 - beta2 ** step`. */
  bc2: number;
}
