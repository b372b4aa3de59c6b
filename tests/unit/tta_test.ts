// Test-time augmentation: the views each mode averages, checked against
// direct computation, and that evaluation with them leaks nothing.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { disposeTree } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { brand, type Images } from "../../src/core/tensor.ts";
import { loadCifar10 } from "../../src/data/cifar.ts";
import { CNN_PRESETS, cnnSpec } from "../../src/models/presets.ts";
import { dataDir } from "../../src/train/config.ts";
import {
  evaluate,
  translate,
  ttaMode,
  withFlipAveraging,
  withTestTimeAugmentation,
  withTranslateAveraging,
} from "../../src/train/evaluate.ts";
import type { ApplyFn } from "../../src/train/step.ts";
import { maxAbsDiff, seeded, setup } from "../_setup.ts";

await setup();

const asImages = (t: tf.Tensor): Images => brand(t, ["batch", "height", "width", "channels"]);

// A stand-in model whose one logit is the image's pixels weighted by their
// position in NHWC order, 1..N, over N: every view contributes differently,
// and each logit below can be worked out by hand.
const positional: ApplyFn = (_params, images) =>
  tf.tidy(() => {
    const [, h, w, c] = images.shape;
    const weights = tf.reshape(tf.range(1, h * w * c + 1), [h * w * c, 1]);
    return tf.matMul(tf.reshape(images, [-1, h * w * c]), tf.div(weights, h * w * c));
  }) as ReturnType<ApplyFn>;

Deno.test("withFlipAveraging() averages the logits of each image and its mirror image", () => {
  // 1x2 images with 2 channels, weights 1/4, 2/4 (left pixel), 3/4, 4/4 (right).
  // [1, 0 | 0, 0]: 1/4; mirrored [0, 0 | 1, 0]: 3/4; mean 1/2.
  // [0, 0 | 0, 2]: 8/4; mirrored [0, 2 | 0, 0]: 4/4; mean 3/2.
  // (Mirroring the channels instead would give 3/8 and 5/4; the height, 1/4 and 2.)
  const x = asImages(tf.tensor4d([1, 0, 0, 0, 0, 0, 0, 2], [2, 1, 2, 2]));
  const got = withFlipAveraging(positional)({}, x, null);
  assert.ok(maxAbsDiff(got, [0.5, 1.5]) < 1e-6, `got ${got.dataSync()}`);
  tf.dispose([x, got]);
});

Deno.test("withFlipAveraging() gives a CNN's image and its mirror image the same logits", () => {
  const spec = cnnSpec(CNN_PRESETS.tiny);
  const params = spec.init(new Rng(0));
  const x = asImages(seeded([2, 32, 32, 3], 5));
  const mirrored = asImages(tf.reverse(x, 2));
  const got = withFlipAveraging(spec.apply)(params, x, null);
  const again = withFlipAveraging(spec.apply)(params, mirrored, null);
  assert.ok(maxAbsDiff(again, got) < 1e-5);
  assert.ok(maxAbsDiff(spec.apply(params, x, null), got) > 1e-6, "the mirror changes the logits");
  tf.dispose([x, mirrored, got, again]);
  disposeTree(params);
});

Deno.test("translate() shifts the content and fills the uncovered border with zeros", () => {
  const x = asImages(tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]));
  const down = translate(x, 1, 1), up = translate(x, -1, -1), right = translate(x, 0, 2);
  assert.deepEqual(Array.from(down.dataSync()), [0, 0, 0, 0, 1, 2, 0, 4, 5]);
  assert.deepEqual(Array.from(up.dataSync()), [5, 6, 0, 8, 9, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(right.dataSync()), [0, 0, 1, 0, 0, 4, 0, 0, 7]);
  assert.deepEqual(down.shape, [1, 3, 3, 1]);
  tf.dispose([x, down, up, right]);
});

/** 3x3 one-channel images, each zero but for a 1 at (row, column). */
const dots = (...at: [number, number][]): Images =>
  asImages(tf.tidy(() => {
    const data = new Float32Array(at.length * 9);
    at.forEach(([row, col], i) => (data[i * 9 + row * 3 + col] = 1));
    return tf.tensor4d(data, [at.length, 3, 3, 1]);
  }));

Deno.test("withTranslateAveraging() weighs the centred view half and each diagonal shift a quarter", () => {
  // Weights 1/9 .. 9/9 by position. A dot at (0, 1): centred 2/9; shifted up-left
  // it leaves the image, 0; down-right it lands on (1, 2), 6/9.
  // 2/9 / 2 + (0 + 6/9) / 4 = 2.5/9. A dot at (2, 0): 7/9; up-left (1, -1) is
  // outside, 0; down-right (3, 1) is outside, 0: 3.5/9.
  const x = dots([0, 1], [2, 0]);
  const got = withTranslateAveraging(positional)({}, x, null);
  assert.ok(maxAbsDiff(got, [2.5 / 9, 3.5 / 9]) < 1e-6, `got ${got.dataSync()}`);
  tf.dispose([x, got]);
});

Deno.test("withTestTimeAugmentation(): none is the model, flip-translate averages six views", () => {
  assert.equal(withTestTimeAugmentation(positional, "none"), positional);
  // Weights 1/9 .. 9/9 by position; each view below is the dot's landing place.
  // Dot at (0, 0): centred 1/9, mirrored (0, 2) 3/9; up-left outside, 0, and
  // its mirror 0; down-right (1, 1) 5/9, mirrored (1, 1) 5/9.
  // (1/9 + 3/9) / 2 / 2 + ((0 + 0) / 2 + (5/9 + 5/9) / 2) / 4 = 1/9 + 1.25/9 = 2.25/9.
  // Dot at (2, 1): centred and mirrored 8/9; up-left (1, 0) 4/9, mirrored
  // (1, 2) 6/9; down-right outside, 0 and 0.
  // 8/9 / 2 + ((4/9 + 6/9) / 2 + 0) / 4 = 4/9 + 1.25/9 = 5.25/9.
  const x = dots([0, 0], [2, 1]);
  const six = withTestTimeAugmentation(positional, "flip-translate")({}, x, null);
  assert.ok(maxAbsDiff(six, [2.25 / 9, 5.25 / 9]) < 1e-6, `got ${six.dataSync()}`);
  // Flips alone: (1/9 + 3/9) / 2 and (8/9 + 8/9) / 2.
  const flips = withTestTimeAugmentation(positional, "flip")({}, x, null);
  assert.ok(maxAbsDiff(flips, [2 / 9, 8 / 9]) < 1e-6, `got ${flips.dataSync()}`);
  tf.dispose([x, six, flips]);
});

Deno.test("evaluate() with every test-time augmentation leaks no tensors", async () => {
  const data = await loadCifar10(dataDir("sample"), { trainSize: 1, testSize: 50 });
  const spec = cnnSpec(CNN_PRESETS.tiny);
  const params = spec.init(new Rng(1));
  const before = tf.memory().numTensors;
  for (const tta of ["none", "flip", "flip-translate"] as const) {
    const result = await evaluate(spec, params, data.test, { tta, batchSize: 25 });
    assert.equal(result.size, 50);
    assert.equal(tf.memory().numTensors, before, `${tta} leaked`);
  }
  disposeTree(params);
});

Deno.test("ttaMode() reads the booleans older runs saved and rejects unknown modes", () => {
  assert.equal(ttaMode(true), "flip");
  assert.equal(ttaMode(false), "none");
  assert.equal(ttaMode("flip-translate"), "flip-translate");
  assert.throws(() => ttaMode("crops"), /unknown test-time augmentation "crops": expected one of/);
});
