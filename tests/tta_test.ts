// Test-time augmentation: the views each mode averages, checked against
// direct computation, and that evaluation with them leaks nothing.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { disposeTree } from "../src/core/params.ts";
import { Rng } from "../src/core/rng.ts";
import { brand, type Images } from "../src/core/tensor.ts";
import { loadCifar10 } from "../src/data/cifar.ts";
import { CNN_PRESETS, cnnSpec } from "../src/models/presets.ts";
import { dataDir } from "../src/train/config.ts";
import {
  evaluate,
  translate,
  ttaMode,
  withFlipAveraging,
  withTestTimeAugmentation,
  withTranslateAveraging,
} from "../src/train/evaluate.ts";
import type { ApplyFn } from "../src/train/step.ts";
import { maxAbsDiff, seeded, setup } from "./_setup.ts";

await setup();

const asImages = (t: tf.Tensor): Images => brand(t, ["batch", "height", "width", "channels"]);

Deno.test("withFlipAveraging() averages the logits of each image and its mirror image", () => {
  const spec = cnnSpec(CNN_PRESETS.tiny);
  const params = spec.init(new Rng(0));
  const x = asImages(seeded([2, 32, 32, 3], 5));
  const mirrored = asImages(tf.reverse(x, 2));
  const expected = tf.div(
    tf.add(spec.apply(params, x, null), spec.apply(params, mirrored, null)),
    2,
  );
  const got = withFlipAveraging(spec.apply)(params, x, null);
  assert.ok(maxAbsDiff(got, Array.from(expected.dataSync())) < 1e-5);
  const again = withFlipAveraging(spec.apply)(params, mirrored, null);
  assert.ok(
    maxAbsDiff(again, Array.from(got.dataSync())) < 1e-5,
    "a mirror image gets the same logits",
  );
  tf.dispose([x, mirrored, expected, got, again]);
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

// A stand-in model whose logits are each image's pixels weighted by
// position, so every view contributes differently.
const positional: ApplyFn = (_params, images) =>
  tf.tidy(() => {
    const [, h, w, c] = images.shape;
    const weights = tf.reshape(tf.range(1, h * w * c + 1), [h * w * c, 1]);
    return tf.matMul(tf.reshape(images, [-1, h * w * c]), tf.div(weights, h * w * c));
  }) as ReturnType<ApplyFn>;

Deno.test("withTranslateAveraging() weighs the centred view half and each diagonal shift a quarter", () => {
  const x = asImages(seeded([3, 4, 4, 2], 7));
  const f = (im: Images) => positional({}, im, null);
  const expected = tf.tidy(() =>
    tf.add(
      tf.mul(f(x), 0.5),
      tf.mul(tf.add(f(translate(x, -1, -1)), f(translate(x, 1, 1))), 0.25),
    )
  );
  const got = withTranslateAveraging(positional)({}, x, null);
  assert.ok(maxAbsDiff(got, expected) < 1e-5);
  assert.ok(maxAbsDiff(got, f(x)) > 1e-3, "the shifted views change the logits");
  tf.dispose([x, expected, got]);
});

Deno.test("withTestTimeAugmentation(): none is the model, flip-translate averages six views", () => {
  assert.equal(withTestTimeAugmentation(positional, "none"), positional);
  const x = asImages(seeded([2, 4, 4, 3], 9));
  const got = withTestTimeAugmentation(positional, "flip-translate")({}, x, null);
  const expected = withTranslateAveraging(withFlipAveraging(positional))({}, x, null);
  const flipOnly = withTestTimeAugmentation(positional, "flip")({}, x, null);
  assert.ok(maxAbsDiff(got, expected) < 1e-6);
  assert.ok(maxAbsDiff(got, flipOnly) > 1e-3);
  tf.dispose([x, got, expected, flipOnly]);
});

Deno.test("evaluate() with every test-time augmentation leaks no tensors", async () => {
  const data = await loadCifar10(dataDir("sample"), { trainSize: 1, testSize: 50 });
  const spec = cnnSpec(CNN_PRESETS.tiny);
  const params = spec.init(new Rng(1));
  const before = tf.memory().numTensors;
  for (const tta of ["none", "flip", "flip-translate"] as const) {
    const result = await evaluate(spec.apply, params, data.test, { tta, batchSize: 25 });
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
