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
 * Preset names that exist for both kinds. `tiny`, `small` and `base` are
 * pairs of matched size for comparisons; `hour` is the pair tuned for a
 * 60-minute budget on a 2-core CPU (each at most 1M parameters, not matched).
 */
export const PRESET_NAMES = ["tiny", "small", "base", "hour"] as const;
/** The presets whose CNN and ViT match in parameter count (within 5%). */
export const MATCHED_PRESETS = ["tiny", "small", "base"] as const;
/** A preset name shared by both kinds. */
export type PresetName = typeof PRESET_NAMES[number];
/**
 * Presets of one kind only: `vit:hour-deep` is the ViT matched in size to
 * `cnn:hour` (0.6% apart), `cnn:hour-noattn` is `cnn:hour` with every
 * self-attention layer removed (the ablation).
 */
export const KIND_PRESET_NAMES = {
  cnn: ["hour-noattn"],
  vit: ["hour-deep"],
} as const;
/** A CNN preset name. */
export type CNNPresetName = PresetName | typeof KIND_PRESET_NAMES.cnn[number];
/** A ViT preset name. */
export type ViTPresetName = PresetName | typeof KIND_PRESET_NAMES.vit[number];

/** Every preset name of `kind`, shared ones first. */
export function presetNames(kind: ModelKind): readonly string[] {
  return [...PRESET_NAMES, ...KIND_PRESET_NAMES[kind]];
}

const IMAGE = { imageSize: 32, channels: 3, classes: 10 };

const VIT_HOUR: ViTConfig = {
  ...IMAGE,
  tokenizer: [32, 128],
  patchSize: 1,
  dim: 128,
  depth: 4,
  heads: 4,
  mlpDim: 256,
};

/** ViT presets. `tiny` is for tests and the shipped sample. */
export const VIT_PRESETS: Record<ViTPresetName, ViTConfig> = {
  tiny: { ...IMAGE, patchSize: 4, dim: 32, depth: 2, heads: 2, mlpDim: 72 },
  small: { ...IMAGE, patchSize: 4, dim: 128, depth: 4, heads: 4, mlpDim: 256 },
  base: { ...IMAGE, patchSize: 4, dim: 192, depth: 3, heads: 6, mlpDim: 384 },
  // A CCT-style convolutional tokenizer (32x32 -> 8x8x128) feeds 64 tokens of
  // 1x1 "patches" to the transformer: the early convolutions make a ViT learn
  // far faster from few epochs (Xiao et al. 2021; Hassani et al. 2021).
  hour: VIT_HOUR,
  // `hour` grown to the CNN-SA hour's size (957,962 vs 952,053 parameters)
  // with depth rather than width: two more encoder blocks and a 2.5x MLP keep
  // the 32-channel head dimension and the tokenizer that make it learn fast.
  "hour-deep": { ...VIT_HOUR, depth: 6, mlpDim: 320 },
};

// Batch norm after pooling, widening 24-64-128-192, attention on the 8x8
// and 4x4 maps (64 and 16 positions: cheap next to the convs).
const CNN_HOUR: CNNConfig = {
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
};

/** CNN-SA presets, sized to match the ViT of the same name within 5%. */
export const CNN_PRESETS: Record<CNNPresetName, CNNConfig> = {
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
  hour: CNN_HOUR,
  "hour-noattn": {
    ...CNN_HOUR,
    stages: CNN_HOUR.stages.map((stage) => ({ ...stage, attention: false })),
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
  if (kind !== "cnn" && kind !== "vit") {
    throw new Error(`Unknown model "${kind}"; choose cnn or vit`);
  }
  const names = presetNames(kind);
  if (!names.includes(preset)) {
    throw new Error(
      `Unknown ${kind} preset "${preset}"; choose one of ${names.join(", ")}`,
    );
  }
  return kind === "vit"
    ? vitSpec(VIT_PRESETS[preset as ViTPresetName], preset)
    : cnnSpec(CNN_PRESETS[preset as CNNPresetName], preset);
}
