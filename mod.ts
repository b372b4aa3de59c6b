/**
 * Self-attention for computer vision, written by hand on TensorFlow.js:
 * scaled dot-product and multi-head attention, a SAGAN-style 2-D
 * self-attention layer for CNNs, patchify and pre-norm encoder blocks, and
 * two models built from them: a CNN with self-attention layers and a ViT.
 * Models are plain records of tensors (`init*` + pure forward functions),
 * trained by explicit gradients and our own AdamW.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand, initViT, Rng, vit, VIT_PRESETS } from "./mod.ts";
 * const config = VIT_PRESETS.tiny;
 * const params = initViT(new Rng(0), config);
 * const images = brand(tf.zeros([2, 32, 32, 3]), ["batch", "height", "width", "channels"]);
 * const logits = vit(params, images, config); // [2, 10]
 * ```
 *
 * @module
 */
export * from "./src/core/tensor.ts";
export * from "./src/core/rng.ts";
export * from "./src/core/params.ts";
export * from "./src/core/safetensors.ts";
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
export * from "./src/backend/select.ts";
export * from "./src/train/loss.ts";
export * from "./src/train/adamw.ts";
export * from "./src/train/schedule.ts";
export * from "./src/train/step.ts";
export * from "./src/train/evaluate.ts";
export * from "./src/train/config.ts";
export * from "./src/train/checkpoint.ts";
export * from "./src/train/loop.ts";
export * from "./src/data/cifar.ts";
export * from "./src/data/batches.ts";
export * from "./src/report/attention_maps.ts";
export * from "./src/report/compare.ts";
export * from "./src/report/report.ts";
