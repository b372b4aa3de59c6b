/**
 * Self-attention for computer vision, written by hand on TensorFlow.js:
 * scaled dot-product and multi-head attention, a SAGAN-style 2-D
 * self-attention layer for CNNs, patchify and pre-norm encoder blocks, and
 * two models built from them: a CNN with self-attention layers and a ViT.
 * Models are plain records of tensors (`init*` + pure forward functions),
 * trained by explicit gradients and our own AdamW.
 *
 * This root entry is platform-neutral: it loads unchanged in a browser, in
 * Deno and in Node (tensor brands, layers, models and presets, loss, AdamW,
 * the learning-rate schedule, one training step, evaluation, checkpoints and
 * safetensors as bytes, attention maps as data). What needs Deno (files,
 * CIFAR-10 from disk, run folders, reports written to disk, the FFI backend)
 * sits behind the subpath entries `./train`, `./data`, `./report` and
 * `./backend`.
 *
 * @example Run a ViT on a batch of images
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand, initViT, Rng, vit, VIT_PRESETS } from "@vision-attention/sa";
 * const config = VIT_PRESETS.tiny;
 * const params = initViT(new Rng(0), config);
 * const images = brand(tf.zeros([2, 32, 32, 3]), ["batch", "height", "width", "channels"]);
 * const logits = vit(params, images, config); // [2, 10]
 * console.assert(logits.shape.join() === "2,10");
 * ```
 *
 * @module
 */
export * from "./src/core/tensor.ts";
export * from "./src/core/rng.ts";
export * from "./src/core/params.ts";
// Bytes in, bytes out only: saving to and loading from files is in ./train.
export {
  decodeSafetensors,
  encodeSafetensors,
  type RawTensor,
  rawToTree,
  type SafetensorsFile,
  treeToRaw,
} from "./src/core/safetensors.ts";
export * from "./src/layers/linear.ts";
export * from "./src/layers/conv.ts";
export * from "./src/layers/norm.ts";
export * from "./src/layers/activations.ts";
export * from "./src/layers/attention.ts";
export * from "./src/layers/self_attention_2d.ts";
export * from "./src/layers/patchify.ts";
export * from "./src/layers/pool.ts";
export * from "./src/layers/encoder.ts";
export * from "./src/models/vit.ts";
export * from "./src/models/cnn.ts";
export * from "./src/models/presets.ts";
export * from "./src/train/loss.ts";
export * from "./src/train/adamw.ts";
export * from "./src/train/schedule.ts";
export * from "./src/train/step.ts";
export * from "./src/train/evaluate.ts";
// The config's type and defaults only: `SAMPLE_DIR` and `dataDir` name a
// folder of this repository's checkout (publishing excludes data/sample).
export {
  defaultConfig,
  optimizerOf,
  presetDefaults,
  scheduleOf,
  type TrainConfig,
} from "./src/train/config.ts";
export type { BackendName } from "./src/backend/select.ts";
// A checkpoint from bytes; reading and writing files is in ./train.
export {
  type CheckpointHeader,
  checkpointModel,
  type LoadedCheckpoint,
  parseCheckpoint,
  type PartialEpoch,
  type RunState,
} from "./src/train/checkpoint.ts";
// The record layout and its parser; loading from a folder is in ./data.
export {
  CLASS_NAMES,
  IMAGE_BYTES,
  type ImageSet,
  parseBatch,
  RECORD_BYTES,
  take,
} from "./src/data/cifar.ts";
export * from "./src/data/batches.ts";
export * from "./src/report/attention_maps.ts";
