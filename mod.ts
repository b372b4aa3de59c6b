/**
 * Self-attention for computer vision, written by hand on TensorFlow.js:
 * scaled dot-product and multi-head attention, a SAGAN-style 2-D
 * self-attention layer for CNNs, patchify and pre-norm encoder blocks, and
 * two models built from them: a CNN with self-attention layers and a ViT.
 * Models are plain records of tensors (`init*` + pure forward functions),
 * trained by explicit gradients and our own AdamW.
 *
 * This root entry is platform-neutral: it loads unchanged in a browser, in
 * Deno and in Node. It lists what a script needs by name: tensor brands, the
 * hand-written layers, the two models and their presets, a run's config,
 * batches, one training step, evaluation, the shipped weights, checkpoints as
 * bytes and attention maps as data. What needs Deno (files, CIFAR-10 from
 * disk, run folders, reports written to disk, the FFI backend) sits behind
 * the subpath entries `./train`, `./data`, `./report` and `./backend`. The
 * types these functions take (parameter records, layer configs, options) are
 * named in `./types`; the building blocks below (kernels, parameter-tree
 * helpers) are imported from their modules under `src/`.
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
// Tensors with named axes, the generator, parameter records.
export { brand, type Images, type Logits, type T, type Tokens } from "./src/core/tensor.ts";
export { Rng } from "./src/core/rng.ts";
export { countParams, disposeTree, type ParamTree } from "./src/core/params.ts";
// The hand-written layers.
export { attention, type BHSD, initMHA, multiHeadAttention } from "./src/layers/attention.ts";
export { initSelfAttention2d, selfAttention2d } from "./src/layers/self_attention_2d.ts";
export { patchify } from "./src/layers/patchify.ts";
export { layerNorm } from "./src/layers/norm.ts";
export { encoderBlock, initEncoderBlock } from "./src/layers/encoder.ts";
// The two models, their presets, and the shipped weights.
export { initViT, vit, type ViTConfig } from "./src/models/vit.ts";
export { cnn, type CNNConfig, initCNN } from "./src/models/cnn.ts";
export {
  CNN_PRESETS,
  type ModelKind,
  type ModelSpec,
  modelSpec,
  VIT_PRESETS,
} from "./src/models/presets.ts";
export { loadPretrained, PRETRAINED, type PretrainedName } from "./src/train/pretrained.ts";
// Training with your own loop: config, batches, state, step, schedule, evaluation.
export {
  optimizerOf,
  resolveConfig,
  scheduleOf,
  type TrainConfig,
  type TrainSettings,
} from "./src/train/config.ts";
export { type Batch, imageBatch } from "./src/data/batches.ts";
export {
  initTrainState,
  type TrainState,
  trainStep,
  type TrainStepOptions,
} from "./src/train/step.ts";
export { learningRate } from "./src/train/schedule.ts";
export { crossEntropy } from "./src/train/loss.ts";
export {
  calibrate,
  classify,
  type EvalResult,
  evaluate,
  type TestTimeAugmentation,
} from "./src/train/evaluate.ts";
// Data and checkpoints as bytes (files are read in ./data and ./train).
export { CLASS_NAMES, type ImageSet, parseBatch } from "./src/data/cifar.ts";
export { checkpointModel, parseCheckpoint } from "./src/train/checkpoint.ts";
// Attention maps as data, for people to look at.
export { cnnQueryAttention, type Grid, vitClassAttention } from "./src/report/attention_maps.ts";
