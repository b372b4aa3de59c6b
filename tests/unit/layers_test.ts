import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng.ts";
import { brand, type Images, type Tokens } from "../../src/core/tensor.ts";
import { gelu } from "../../src/layers/activations.ts";
import { initLinear, linear } from "../../src/layers/linear.ts";
import { groupNorm, initNorm, layerNorm } from "../../src/layers/norm.ts";
import { patchify, unpatchify } from "../../src/layers/patchify.ts";
import { maxPool2x2 } from "../../src/layers/pool.ts";
import { directionalCheck, maxAbsDiff, onCpu, seeded, setup } from "../_setup.ts";

await setup();

const asImages = (t: tf.Tensor): Images => brand(t, ["batch", "height", "width", "channels"]);

Deno.test("layerNorm() matches golden values (eps 1e-5, biased variance)", () => {
  const params = { scale: tf.tensor1d([1, 2, 0.5]), shift: tf.tensor1d([0, 1, -1]) };
  const y = layerNorm(params, tf.tensor2d([[1, 2, 3], [0, 0, 4]]));
  const golden = [-1.2247357, 1.0, -0.3876322, -0.7071058, -0.4142116, -0.2928942];
  assert.ok(maxAbsDiff(y, golden) < 1e-5, `got ${Array.from(y.dataSync())}`);
});

Deno.test("layerNorm() gradient matches finite differences", () => {
  const params = { scale: seeded([6], 1), shift: seeded([6], 2) };
  const r = seeded([3, 6], 9);
  const f = (x: tf.Tensor, s: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(layerNorm({ scale: s, shift: b }, x), r)) as tf.Scalar;
  const [a, n] = directionalCheck(f, [seeded([3, 6], 3, 2), params.scale, params.shift], 1e-2);
  assert.ok(Math.abs(a - n) <= 2e-2 * Math.max(1, Math.abs(n)), `analytic ${a} vs numeric ${n}`);
});

Deno.test("groupNorm() with one group normalises each image over H, W, C", () => {
  const x = asImages(seeded([2, 4, 4, 8], 5, 3));
  const y = groupNorm(initNorm(8), x, 1);
  const { mean, variance } = tf.moments(y, [1, 2, 3]);
  assert.ok(maxAbsDiff(mean, [0, 0]) < 1e-5);
  assert.ok(maxAbsDiff(variance, [1, 1]) < 1e-3);
  assert.throws(() => groupNorm(initNorm(8), x, 3), /8 channels do not split into 3 groups/);
  // Two groups: each half of the channels is normalised on its own.
  const y2 = groupNorm(initNorm(8), x, 2);
  for (const half of tf.split(y2, 2, 3)) {
    const m = tf.moments(half, [1, 2, 3]);
    assert.ok(maxAbsDiff(m.mean, [0, 0]) < 1e-5);
    assert.ok(maxAbsDiff(m.variance, [1, 1]) < 1e-3);
  }
});

Deno.test("gelu() matches the tanh approximation's golden values", () => {
  const y = gelu(tf.tensor1d([-2, -0.5, 0, 1, 3]));
  assert.ok(maxAbsDiff(y, [-0.0454023, -0.154286, 0, 0.841192, 2.996363]) < 1e-5);
});

Deno.test("linear() maps the last axis and rejects a wrong width", () => {
  const p = initLinear(new Rng(0), 4, 3);
  assert.deepEqual(linear(p, tf.ones([2, 5, 4])).shape, [2, 5, 3]);
  assert.throws(() => linear(p, tf.ones([2, 5])), /last axis is 5 .* expects 4/);
});

Deno.test("patchify() lays patches row-major and (dy·p + dx)·C + c inside", () => {
  // Value = y*100 + x*10 + c identifies each pixel.
  const data: number[] = [];
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) for (let c = 0; c < 2; c++) data.push(y * 100 + x * 10 + c);
  }
  const images = asImages(tf.tensor4d(data, [1, 4, 4, 2]));
  const p = patchify(images, 2);
  assert.deepEqual(p.shape, [1, 4, 8]);
  const rows = p.arraySync() as number[][][];
  assert.deepEqual(rows[0][0], [0, 1, 10, 11, 100, 101, 110, 111]); // top-left patch
  assert.deepEqual(rows[0][1], [20, 21, 30, 31, 120, 121, 130, 131]); // its right neighbour
  assert.deepEqual(rows[0][2], [200, 201, 210, 211, 300, 301, 310, 311]); // bottom-left
  assert.ok(maxAbsDiff(unpatchify(p, 2, 4, 4), images) === 0);
  assert.throws(
    () => patchify(asImages(tf.zeros([1, 6, 8, 3])), 4),
    /height 6 and width 8 .* divisible by the patch size 4/,
  );
});

Deno.test("maxPool2x2() equals tf.maxPool 2x2 stride 2 on the cpu backend, values and gradients", async () => {
  const x = seeded([2, 6, 4, 3], 11), r = seeded([2, 3, 2, 3], 12);
  const ours = tf.tidy(() => {
    const y = maxPool2x2(asImages(x));
    return [
      y.dataSync(),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(maxPool2x2(asImages(t)), r)))(x).dataSync(),
    ];
  });
  // The reference runs on tfjs's cpu backend: stock wasm's MaxPoolGrad differs
  // from it (max abs diff 0.78 on this input); the fast path replaces it.
  const ref = await onCpu(() =>
    tf.tidy(() => {
      const y = tf.maxPool(x as tf.Tensor4D, 2, 2, "valid");
      return [
        y.dataSync(),
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 2, 2, "valid"), r)))(x)
          .dataSync(),
      ];
    })
  );
  assert.equal(maxAbsDiff(ours[0], ref[0]), 0);
  assert.ok(maxAbsDiff(ours[1], ref[1]) < 1e-6);
});

Deno.test("layers leak no tensors", () => {
  const before = tf.memory().numTensors;
  const p = initNorm(4);
  const x: Tokens = brand(tf.ones([1, 2, 4]), ["batch", "seq", "dim"]);
  tf.dispose([layerNorm(p, x), gelu(x)]);
  tf.dispose([p.scale, p.shift, x]);
  assert.equal(tf.memory().numTensors, before);
});
