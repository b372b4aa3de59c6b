/**
 * Class probabilities for sets of images, through the library's own
 * preprocessing (`imageBatch`), forward pass (`predict`) and test-time
 * augmentation, so the page's numbers are `deno task eval`'s.
 *
 * @module
 */
import { imageBatch, type ImageSet, type TestTimeAugmentation } from "@vision-attention/sa";
import { IMAGE_BYTES } from "../../src/data/cifar.ts";
import { argmax, withTestTimeAugmentation } from "../../src/train/evaluate.ts";
import { predict } from "../../src/train/step.ts";
import type { PageModel } from "./assets.ts";

const CLASSES = 10, BATCH = 50;

/**
 * Logits `[set.size * 10]` of `model` on every image of `set`, a batch at a
 * time; `onBatch` hears how many are done (the caller can redraw).
 */
export async function classifySet(
  model: PageModel,
  set: ImageSet,
  tta: TestTimeAugmentation,
  onBatch?: (done: number, logits: Float32Array) => void,
): Promise<Float32Array> {
  const apply = withTestTimeAugmentation(model.spec.apply, tta);
  const out = new Float32Array(set.size * CLASSES);
  for (let start = 0; start < set.size; start += BATCH) {
    const n = Math.min(BATCH, set.size - start);
    using batch = imageBatch(set, Array.from({ length: n }, (_, i) => start + i), null);
    const { logits } = await predict(apply, model.params, batch.images);
    out.set(logits, start * CLASSES);
    onBatch?.(start + n, out);
  }
  return out;
}

/** The arg-max of a row, the first on ties: `evaluate`'s own, so the page counts as it does. */
export { argmax };

/** Softmax of row `i`. */
export function probabilities(logits: Float32Array, i: number): number[] {
  const row = Array.from(logits.subarray(i * CLASSES, (i + 1) * CLASSES));
  const max = Math.max(...row);
  const exps = row.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** Images of the first `done` whose arg-max is their label. */
export function countCorrect(logits: Float32Array, labels: Uint8Array, done: number): number {
  let correct = 0;
  for (let i = 0; i < done; i++) if (argmax(logits, i) === labels[i]) correct++;
  return correct;
}

/** Image `index` of `set` as a set of its own (a view, not a copy). */
export function single(set: ImageSet, index: number): ImageSet {
  return {
    images: set.images.subarray(index * IMAGE_BYTES, (index + 1) * IMAGE_BYTES),
    labels: set.labels.subarray(index, index + 1),
    size: 1,
  };
}
