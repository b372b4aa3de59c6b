import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree, flatten, splitBuffers } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { brand, type Images } from "../../src/core/tensor.ts";
import { fillBatch } from "../../src/data/batches.ts";
import { loadCifar10, take } from "../../src/data/cifar.ts";
import { conv2d } from "../../src/layers/conv.ts";
import { batchMoments, batchNorm, initNorm } from "../../src/layers/norm.ts";
import { cnn, cnnBatchNormStats, type CNNConfig, type CNNParams } from "../../src/models/cnn.ts";
import { CNN_PRESETS, cnnSpec } from "../../src/models/presets.ts";
import { ADAMW_DEFAULTS, initAdamW } from "../../src/train/adamw.ts";
import { dataDir } from "../../src/train/config.ts";
import { calibrate, evaluate } from "../../src/train/evaluate.ts";
import { stepParams } from "../../src/train/step.ts";
import { directionalCheck, maxAbsDiff, seeded, setup } from "../_setup.ts";

await setup();

const asImages = (t: tf.Tensor): Images => brand(t, ["batch", "height", "width", "channels"]);
const BN_TINY: CNNConfig = { ...CNN_PRESETS.tiny, norm: "batch" };

Deno.test("batchMoments() equals a per-channel mean and biased variance computed by hand", () => {
  const x = seeded([2, 3, 3, 4], 1, 2);
  const { mean, variance } = batchMoments(asImages(x));
  const v = Array.from(x.dataSync()), c = 4, n = v.length / c;
  const m = Array.from(
    { length: c },
    (_, j) => v.filter((_, i) => i % c === j).reduce((a, b) => a + b) / n,
  );
  const s = m.map((mj, j) =>
    v.filter((_, i) => i % c === j).reduce((a, b) => a + (b - mj) ** 2, 0) / n
  );
  assert.ok(maxAbsDiff(mean, m) < 1e-5 && maxAbsDiff(variance, s) < 1e-5);
  tf.dispose([x, mean, variance]);
});

Deno.test("batchNorm(): batch statistics in training, given statistics in evaluation", () => {
  const x = asImages(seeded([4, 2, 2, 3], 2, 3));
  const params = { scale: tf.tensor1d([1, 2, 0.5]), shift: tf.tensor1d([0, 1, -1]) };
  const y = batchNorm(params, x, null);
  const m = batchMoments(asImages(tf.div(tf.sub(y, params.shift), params.scale)));
  assert.ok(maxAbsDiff(m.mean, [0, 0, 0]) < 1e-5, `mean ${m.mean.dataSync()}`);
  assert.ok(maxAbsDiff(m.variance, [1, 1, 1]) < 1e-3, `variance ${m.variance.dataSync()}`);
  const stats = { mean: tf.tensor1d([1, -1, 0]), variance: tf.tensor1d([4, 1, 0.25]) };
  const e = batchNorm(initNorm(3), x, stats, 0);
  const expected = tf.div(tf.sub(x, stats.mean), tf.sqrt(stats.variance));
  assert.ok(maxAbsDiff(e, Array.from(expected.dataSync())) < 1e-5);
  tf.dispose([x, y, m.mean, m.variance, e, expected, params.scale, params.shift]);
  tf.dispose([stats.mean, stats.variance]);
});

Deno.test("batchNorm() gradient (through the batch statistics) matches finite differences", () => {
  const r = seeded([3, 2, 2, 3], 9);
  const f = (x: tf.Tensor, s: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(batchNorm({ scale: s, shift: b }, asImages(x), null), r)) as tf.Scalar;
  const [a, n] = directionalCheck(
    f,
    [seeded([3, 2, 2, 3], 3, 2), seeded([3], 1), seeded([3], 2)],
    1e-2,
  );
  assert.ok(Math.abs(a - n) <= 2e-2 * Math.max(1, Math.abs(n)), `analytic ${a} vs numeric ${n}`);
});

Deno.test("cnnBatchNormStats() over two batches equals the statistics of their union", () => {
  const params = cnnSpec(BN_TINY).init(new Rng(0)) as CNNParams;
  const a = asImages(seeded([3, 32, 32, 3], 1)), b = asImages(seeded([3, 32, 32, 3], 2));
  const stats = cnnBatchNormStats(params, [a, b], BN_TINY);
  assert.equal(stats.length, 2 + BN_TINY.stages.length);
  // The stem's input does not depend on any statistics, so its population
  // statistics are the moments of its conv over all six images.
  const both = asImages(tf.concat([a, b]));
  const stem = batchMoments(conv2d(params.stem.conv, both));
  assert.ok(maxAbsDiff(stats[0].mean, Array.from(stem.mean.dataSync())) < 1e-5);
  assert.ok(maxAbsDiff(stats[0].variance, Array.from(stem.variance.dataSync())) < 1e-4);
  tf.dispose([a, b, both, stem.mean, stem.variance]);
  stats.forEach((s) => tf.dispose([s.mean, s.variance]));
  disposeTree(params);
});

Deno.test("a batch-norm CNN trains its weights, not its statistics; calibrate() measures them and evaluation uses them", async () => {
  const spec = cnnSpec(BN_TINY);
  const rng = new Rng(0);
  let params = spec.init(rng);
  const before = flatten(splitBuffers(params).buffers!).map(([, t]) => Array.from(t.dataSync()));
  let state = initAdamW(splitBuffers(params).trainable);
  const data = await loadCifar10(dataDir("sample"), { trainSize: 256, testSize: 50 });
  const x = asImages(seeded([16, 32, 32, 3], 4));
  const labels = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), "int32");
  const losses: number[] = [];
  for (let i = 0; i < 15; i++) {
    const step = { lr: 3e-3, labelSmoothing: 0, optimizer: ADAMW_DEFAULTS };
    const r = await stepParams(spec.apply, params, state, { images: x, labels }, step, rng);
    [params, state] = [r.params, r.state];
    losses.push(r.loss);
  }
  assert.ok(losses.at(-1)! < 0.8 * losses[0], `loss ${losses[0]} -> ${losses.at(-1)}`);
  const after = flatten(splitBuffers(params).buffers!).map(([, t]) => Array.from(t.dataSync()));
  assert.deepEqual(after, before, "training must not change the statistics");
  // Calibrate on exactly one batch (100 images, all used in order): the
  // population statistics are then that batch's moments.
  const calibration = take(data.train, 100);
  const count = tf.memory().numTensors;
  params = calibrate(spec, params, calibration, { images: 100, batchSize: 100 });
  assert.equal(tf.memory().numTensors, count, "calibrate() disposes the old statistics");
  const buffer = new Float32Array(100 * 3072), batchLabels = new Int32Array(100);
  fillBatch(calibration, Array.from({ length: 100 }, (_, i) => i), buffer, batchLabels, null);
  const batch = asImages(tf.tensor4d(buffer, [100, 32, 32, 3]));
  // The stem's statistics are the per-channel mean and biased variance of its
  // conv output over the 100 images, summed here one value at a time.
  const stem = conv2d((params as CNNParams).stem.conv, batch);
  const values = stem.dataSync(), c = BN_TINY.stemWidth, n = values.length / c;
  const mean = new Array(c).fill(0), variance = new Array(c).fill(0);
  values.forEach((v, i) => (mean[i % c] += v / n));
  values.forEach((v, i) => (variance[i % c] += (v - mean[i % c]) ** 2 / n));
  const stats = splitBuffers(params).buffers as { mean: tf.Tensor; variance: tf.Tensor }[];
  assert.ok(maxAbsDiff(stats[0].mean, mean) < 1e-4, `stem mean ${stats[0].mean.dataSync()}`);
  assert.ok(maxAbsDiff(stats[0].variance, variance) < 1e-3 * Math.max(...variance));
  // Evaluation mode normalises every layer with the calibrated statistics;
  // on the calibration batch they are its own moments, so it must give the
  // logits training mode (batch statistics) gives.
  const evalLogits = spec.apply(params, batch, null);
  const trainLogits = cnn(params as CNNParams, batch, BN_TINY, "train");
  assert.ok(maxAbsDiff(evalLogits, trainLogits) < 1e-3, "eval mode uses the calibrated statistics");
  const fresh = spec.init(new Rng(0)) as CNNParams; // its statistics: mean 0, variance 1
  const stale = cnn({ ...(params as CNNParams), stats: fresh.stats }, batch, BN_TINY, "eval");
  assert.ok(maxAbsDiff(stale, trainLogits) > 1e-2, "other statistics change the logits");
  // evaluate() scores exactly those eval-mode logits.
  const logits = evalLogits.arraySync() as number[][];
  const correct = logits.filter((row, i) => row.indexOf(Math.max(...row)) === batchLabels[i]);
  const result = await evaluate(spec, params, calibration);
  assert.equal(result.accuracy, correct.length / 100);
  tf.dispose([x, labels, batch, stem, evalLogits, trainLogits, stale]);
  [fresh, params, state.m, state.v].forEach(disposeTree);
});
