/**
 * Named model shapes, in pairs of comparable size, and one interface over
 * both models so training, evaluation and comparison treat them alike.
 *
 * @module
 */
import type { Rng } from "../core/rng.ts";
import type { ParamTree } from "../core/params.ts";
import type { Images, Logits } from "../core/tensor.ts";
import {
  cnn,
  cnnBatchNormStats,
  type CNNConfig,
  cnnFlops,
  cnnParamCount,
  type CNNParams,
  initCNN,
} from "./cnn.ts";
import { initViT, vit, type ViTConfig, vitFlops, vitParamCount } from "./vit.ts";

/** The two kinds of model. */
export type ModelKind = "cnn" | "vit";
/**
 * Preset names; each exists for both kinds. `tiny`, `small` and `base` are
 * pairs of matched size for comparisons; `hour` is the pair tuned for a
 * 60-minute budget on a 2-core CPU (each at most 1M parameters).
 */
export const PRESET_NAMES = ["tiny", "small", "base", "hour"] as const;
/** The presets whose CNN and ViT match in parameter count (within 5%). */
export const MATCHED_PRESETS = ["tiny", "small", "base"] as const;
/** A preset name. */
export type PresetName = typeof PRESET_NAMES[number];

const IMAGE = { imageSize: 32, channels: 3, classes: 10 };

/** ViT presets. `tiny` is for tests and the shipped sample. */
export const VIT_PRESETS: Record<PresetName, ViTConfig> = {
  tiny: { ...IMAGE, patchSize: 4, dim: 32, depth: 2, heads: 2, mlpDim: 72 },
  small: { ...IMAGE, patchSize: 4, dim: 128, depth: 4, heads: 4, mlpDim: 256 },
  base: { ...IMAGE, patchSize: 4, dim: 192, depth: 3, heads: 6, mlpDim: 384 },
  // A CCT-style convolutional tokenizer (32x32 -> 8x8x128) feeds 64 tokens of
  // 1x1 "patches" to the transformer: the early convolutions make a ViT learn
  // far faster from few epochs (Xiao et al. 2021; Hassani et al. 2021).
  hour: {
    ...IMAGE,
    tokenizer: [32, 128],
    patchSize: 1,
    dim: 128,
    depth: 4,
    heads: 4,
    mlpDim: 256,
  },
};

/** CNN-SA presets, sized to match the ViT of the same name within 5%. */
export const CNN_PRESETS: Record<PresetName, CNNConfig> = {
  tiny: {
    ...IMAGE,
    stemWidth: 8,
    stages: [
      { width: 16, downsample: true, attention: true },
      { width: 16, downsample: true, attention: true },
      { width: 24, downsample: true, attention: false },
      { width: 24, downsample: false, attention: true },
    ],
    finalWidth: 32,
    heads: 1,
    groups: 1,
  },
  small: {
    ...IMAGE,
    stemWidth: 32,
    stages: [
      { width: 64, downsample: true, attention: true },
      { width: 96, downsample: true, attention: true },
      { width: 112, downsample: true, attention: true },
      { width: 128, downsample: false, attention: true },
    ],
    finalWidth: 128,
    heads: 1,
    groups: 1,
  },
  base: {
    ...IMAGE,
    stemWidth: 32,
    stages: [
      { width: 64, downsample: true, attention: true },
      { width: 128, downsample: true, attention: true },
      { width: 160, downsample: true, attention: true },
      { width: 160, downsample: false, attention: true },
    ],
    finalWidth: 192,
    heads: 2,
    groups: 1,
  },
  // Batch norm after pooling, widening 24-64-128-192, attention on the 8x8
  // and 4x4 maps (64 and 16 positions: cheap next to the convs).
  hour: {
    ...IMAGE,
    stemWidth: 24,
    stages: [
      { width: 64, downsample: true, attention: false },
      { width: 128, downsample: true, attention: true },
      { width: 192, downsample: true, attention: true },
      { width: 160, downsample: false, attention: true },
    ],
    finalWidth: 128,
    heads: 1,
    groups: 1,
    norm: "batch",
  },
};

/** One interface over both models. */
export interface ModelSpec {
  /** Which model. */
  kind: ModelKind;
  /** The preset name, or `custom`. */
  preset: string;
  /** The model's shape. */
  config: CNNConfig | ViTConfig;
  /** Fresh parameters from a seeded generator. */
  init(rng: Rng): ParamTree;
  /** Logits; `rng` non-null means training (dropout on). */
  apply(params: ParamTree, images: Images, rng: Rng | null): Logits;
  /** Exact parameter count. */
  paramCount: number;
  /** Forward FLOPs per image. */
  flops: number;
  /**
   * For models with buffers (batch-norm statistics): `params` with its
   * buffers recomputed from `batches` of training images. Returns a new
   * tree sharing the trained tensors; the caller disposes the old buffers.
   */
  calibrate?(params: ParamTree, batches: Images[]): ParamTree;
}

/** A {@linkcode ModelSpec} for a ViT of any shape; `preset` names it. */
export function vitSpec(config: ViTConfig, preset = "custom"): ModelSpec {
  return {
    kind: "vit",
    preset,
    config,
    init: (rng) => initViT(rng, config),
    apply: (p, x, rng) => vit(p as Parameters<typeof vit>[0], x, config, rng),
    paramCount: vitParamCount(config),
    flops: vitFlops(config),
  };
}

/** A {@linkcode ModelSpec} for a CNN-SA of any shape; `preset` names it. */
export function cnnSpec(config: CNNConfig, preset = "custom"): ModelSpec {
  const spec: ModelSpec = {
    kind: "cnn",
    preset,
    config,
    init: (rng) => initCNN(rng, config),
    apply: (p, x, rng) => cnn(p as CNNParams, x, config, rng ? "train" : "eval"),
    paramCount: cnnParamCount(config),
    flops: cnnFlops(config),
  };
  if (config.norm !== "batch") return spec;
  return {
    ...spec,
    calibrate: (p, batches) => ({
      ...(p as CNNParams),
      stats: cnnBatchNormStats(p as CNNParams, batches, config),
    }),
  };
}

/**
 * The model of `kind` with the preset `preset`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand, modelSpec, Rng } from "@vision-attention/sa";
 * const spec = modelSpec("cnn", "tiny");
 * const params = spec.init(new Rng(0));
 * const images = brand(tf.zeros([2, 32, 32, 3]), ["batch", "height", "width", "channels"]);
 * console.assert(spec.apply(params, images, null).shape.join() === "2,10");
 * ```
 */
export function modelSpec(kind: ModelKind, preset: string): ModelSpec {
  if (!PRESET_NAMES.includes(preset as PresetName)) {
    throw new Error(
      `Unknown preset "${preset}"; choose one of ${PRESET_NAMES.join(", ")}`,
    );
  }
  const name = preset as PresetName;
  if (kind === "vit") return vitSpec(VIT_PRESETS[name], preset);
  if (kind === "cnn") return cnnSpec(CNN_PRESETS[name], preset);
  throw new Error(`Unknown model "${kind}"; choose cnn or vit`);
}
