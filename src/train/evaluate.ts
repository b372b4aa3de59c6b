/**
 * Test-set evaluation: top-1 accuracy, per-class accuracy and the confusion
 * matrix, in evaluation mode (no augmentation, no dropout).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ParamTree } from "../core/params.ts";
import { brand } from "../core/tensor.ts";
import { fillBatch } from "../data/batches.ts";
import type { ImageSet } from "../data/cifar.ts";
import { type ApplyFn, predict } from "./step.ts";

/** Evaluation results; accuracies are fractions in [0, 1]. */
export interface EvalResult {
  accuracy: number;
  perClassAccuracy: number[];
  /** `confusion[label][predicted]` counts. */
  confusion: number[][];
  size: number;
}

/** Evaluate `params` on every image of `set`. */
export async function evaluate(
  apply: ApplyFn,
  params: ParamTree,
  set: ImageSet,
  options: { batchSize?: number; classes?: number } = {},
): Promise<EvalResult> {
  const batchSize = options.batchSize ?? 250, classes = options.classes ?? 10;
  const confusion = Array.from(
    { length: classes },
    () => new Array<number>(classes).fill(0),
  );
  const buffer = new Float32Array(batchSize * 32 * 32 * 3),
    labels = new Int32Array(batchSize);
  for (let start = 0; start < set.size; start += batchSize) {
    const n = Math.min(batchSize, set.size - start);
    const indices = Array.from({ length: n }, (_, i) => start + i);
    fillBatch(set, indices, buffer, labels, null);
    const images = brand(
      tf.tensor4d(buffer.subarray(0, n * 3072), [n, 32, 32, 3]),
      ["batch", "height", "width", "channels"],
    );
    const { logits } = await predict(apply, params, images);
    images.dispose();
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) {
        if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      }
      confusion[labels[i]][best]++;
    }
  }
  const correct = confusion.reduce((s, row, i) => s + row[i], 0);
  const perClassAccuracy = confusion.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? 0 : row[i] / total;
  });
  return {
    accuracy: set.size === 0 ? 0 : correct / set.size,
    perClassAccuracy,
    confusion,
    size: set.size,
  };
}
