/**
 * The types the root entry's functions take and return, by name, for code
 * that annotates them: parameter records (`ViTParams`, `CNNParams`, ...),
 * layer configs, option records and state. Types only: importing this entry
 * loads no code. The root entry keeps its list short by naming only the
 * types a script usually writes down.
 *
 * @example Annotate a helper over a ViT's parameters
 * ```ts
 * import type { ViTParams } from "@vision-attention/sa/types";
 * import { countParams, initViT, Rng, VIT_PRESETS } from "@vision-attention/sa";
 * const blocks = (p: ViTParams) => p.blocks.length;
 * const params = initViT(new Rng(0), VIT_PRESETS.tiny);
 * console.assert(blocks(params) > 0 && countParams(params) > 0);
 * ```
 *
 * @module
 */
export type { Sizes } from "../core/tensor.ts";
export type { MHAConfig, MHAParams } from "../layers/attention.ts";
export type { SelfAttention2dConfig, SelfAttention2dParams } from "../layers/self_attention_2d.ts";
export type { EncoderConfig, EncoderParams } from "../layers/encoder.ts";
export type { BatchNormStats, NormParams } from "../layers/norm.ts";
export type { Patches } from "../layers/patchify.ts";
export type { ViTParams } from "../models/vit.ts";
export type { CNNParams, ConvNormParams, StageConfig } from "../models/cnn.ts";
export type {
  CNNPresetName,
  KIND_PRESET_NAMES,
  PRESET_NAMES,
  PresetName,
  ViTPresetName,
} from "../models/presets.ts";
export type { AdamWConfig, AdamWState } from "../train/adamw.ts";
export type { ScheduleConfig } from "../train/schedule.ts";
export type { StepConfig, TrainStepResult } from "../train/step.ts";
export type { EvalOptions } from "../train/evaluate.ts";
export type { AugmentConfig, ImageBatchOptions } from "../data/batches.ts";
export type {
  CheckpointHeader,
  LoadedCheckpoint,
  PartialEpoch,
  RunState,
  SaveModelOptions,
} from "../train/checkpoint.ts";
export type { PretrainedModel, PretrainedOptions } from "../train/pretrained.ts";
export type { ConvParams } from "../layers/conv.ts";
export type { LinearParams } from "../layers/linear.ts";
