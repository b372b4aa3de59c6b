/**
 * Named model shapes, in pairs of comparable size, and one interface over
 * both models so training, evaluation and comparison treat them alike.
 *
 * @module
 */
import type { Rng } from "../core/rng.ts";
import type { ParamTree } from "../core/params.ts";
import type { Images, Logits } from "../core/tensor.ts";
import { cnn, type CNNConfig, cnnFlops, cnnParamCount, initCNN } from "./cnn.ts";
import { initViT, vit, type ViTConfig, vitFlops, vitParamCount } from "./vit.ts";

/** The two kinds of model. */
export type ModelKind = "cnn" | "vit";
/** Preset names; each exists for both kinds. */
export const PRESET_NAMES = ["tiny", "small", "base"] as const;
/** A preset name. */
export type PresetName = typeof PRESET_NAMES[number];

const IMAGE = { imageSize: 32, channels: 3, classes: 10 };

/** ViT presets. `tiny` is for tests and the shipped sample. */
export const VIT_PRESETS: Record<PresetName, ViTConfig> = {
  tiny: { ...IMAGE, patchSize: 4, dim: 32, depth: 2, heads: 2, mlpDim: 72 },
  small: { ...IMAGE, patchSize: 4, dim: 128, depth: 4, heads: 4, mlpDim: 256 },
  base: { ...IMAGE, patchSize: 4, dim: 192, depth: 3, heads: 6, mlpDim: 384 },
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
};

/** One interface over both models. */
export interface ModelSpec {
  kind: ModelKind;
  preset: string;
  config: CNNConfig | ViTConfig;
  init(rng: Rng): ParamTree;
  /** Logits; `rng` non-null means training (dropout on). */
  apply(params: ParamTree, images: Images, rng: Rng | null): Logits;
  paramCount: number;
  /** Forward FLOPs per image. */
  flops: number;
}

/** The model of `kind` with the preset `preset`. */
export function modelSpec(kind: ModelKind, preset: string): ModelSpec {
  if (!PRESET_NAMES.includes(preset as PresetName)) {
    throw new Error(
      `Unknown preset "${preset}"; choose one of ${PRESET_NAMES.join(", ")}`,
    );
  }
  const name = preset as PresetName;
  if (kind === "vit") {
    const config = VIT_PRESETS[name];
    return {
      kind,
      preset,
      config,
      init: (rng) => initViT(rng, config),
      apply: (p, x, rng) => vit(p as Parameters<typeof vit>[0], x, config, rng),
      paramCount: vitParamCount(config),
      flops: vitFlops(config),
    };
  }
  if (kind === "cnn") {
    const config = CNN_PRESETS[name];
    return {
      kind,
      preset,
      config,
      init: (rng) => initCNN(rng, config),
      apply: (p, x) => cnn(p as Parameters<typeof cnn>[0], x, config),
      paramCount: cnnParamCount(config),
      flops: cnnFlops(config),
    };
  }
  throw new Error(`Unknown model "${kind}"; choose cnn or vit`);
}
