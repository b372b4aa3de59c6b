/**
 * Pooling for channels-last feature maps.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { cast, type Images } from "../core/tensor.ts";

/** 2x2 max-pooling, stride 2: `[B, H, W, C]` to `[B, H/2, W/2, C]`. */
export function maxPool2x2(x: Images): Images {
  return cast(tf.maxPool(x as tf.Tensor4D, 2, 2, "valid"));
}
