import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.ts";
import { brand, type Images, type Tokens } from "../src/core/tensor.ts";
import {
  attention,
  attentionWeights,
  type BHSD,
  initMHA,
  multiHeadAttention,
} from "../src/layers/attention.ts";
import { encoderBlock, initEncoderBlock } from "../src/layers/encoder.ts";
import { initSelfAttention2d, selfAttention2d } from "../src/layers/self_attention_2d.ts";
import { directionalCheck, maxAbsDiff, seeded, setup } from "./_setup.ts";

await setup();

/** Naive loops: softmax(q kᵀ/√d) v, one element at a time. */
function naiveAttention(q: number[][][][], k: number[][][][], v: number[][][][]) {
  const weights: number[][][][] = [], out: number[][][][] = [];
  for (let b = 0; b < q.length; b++) {
    weights.push([]);
    out.push([]);
    for (let h = 0; h < q[b].length; h++) {
      weights[b].push([]);
      out[b].push([]);
      for (let i = 0; i < q[b][h].length; i++) {
        const d = q[b][h][i].length;
        const scores = k[b][h].map((kj) =>
          kj.reduce((s, kv, t) => s + kv * q[b][h][i][t], 0) / Math.sqrt(d)
        );
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, c) => a + c, 0);
        const w = e.map((x) => x / z);
        weights[b][h].push(w);
        out[b][h].push(v[b][h][0].map((_, c) => w.reduce((s, wj, j) => s + wj * v[b][h][j][c], 0)));
      }
    }
  }
  return { weights, out };
}

const bhsd = (t: tf.Tensor) => brand(t, ["batch", "heads", "seq", "dHead"]) as BHSD;

Deno.test("attention() and attentionWeights() match a naive loop reference (≤ 1e-5)", () => {
  const q = bhsd(seeded([2, 3, 5, 4], 1)),
    k = bhsd(seeded([2, 3, 7, 4], 2)),
    v = bhsd(seeded([2, 3, 7, 6], 3));
  const ref = naiveAttention(
    q.arraySync() as number[][][][],
    k.arraySync() as number[][][][],
    v.arraySync() as number[][][][],
  );
  const w = attentionWeights(q, k), o = attention(q, k, v);
  assert.deepEqual(w.shape, [2, 3, 5, 7]);
  assert.deepEqual(o.shape, [2, 3, 5, 6]);
  assert.ok(maxAbsDiff(w, ref.weights.flat(3)) <= 1e-5);
  assert.ok(maxAbsDiff(o, ref.out.flat(3)) <= 1e-5);
});

Deno.test("attention() rejects mismatched shapes with both shapes named", () => {
  const q = bhsd(tf.zeros([1, 2, 3, 4])), k = bhsd(tf.zeros([1, 2, 3, 5]));
  assert.throws(() => attention(q, k, k), /attention key .*got shape \[1,2,3,5\]/);
});

Deno.test("attention() gradient matches finite differences", () => {
  const r = seeded([1, 2, 3, 4], 9);
  const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
    tf.sum(tf.mul(attention(bhsd(q), bhsd(k), bhsd(v)), r)) as tf.Scalar;
  const [a, n] = directionalCheck(f, [
    seeded([1, 2, 3, 4], 1),
    seeded([1, 2, 5, 4], 2),
    seeded([1, 2, 5, 4], 3),
  ]);
  assert.ok(Math.abs(a - n) <= 2e-2 * Math.max(1, Math.abs(n)), `analytic ${a} vs numeric ${n}`);
});

Deno.test("multiHeadAttention() without positions is permutation-equivariant over tokens", () => {
  const config = { dim: 8, heads: 2 };
  const params = initMHA(new Rng(1), config);
  const x = seeded([2, 5, 8], 4);
  const perm = tf.tensor1d([3, 0, 4, 1, 2], "int32");
  const tokens = (t: tf.Tensor): Tokens => brand(t, ["batch", "seq", "dim"]);
  const permutedOut = tf.gather(multiHeadAttention(params, tokens(x), config), perm, 1);
  const outOfPermuted = multiHeadAttention(params, tokens(tf.gather(x, perm, 1)), config);
  assert.ok(maxAbsDiff(permutedOut, outOfPermuted) < 1e-5);
});

Deno.test("selfAttention2d() with gamma = 0 is the identity; its gradient checks out", () => {
  const config = { channels: 16, heads: 2 };
  const params = initSelfAttention2d(new Rng(2), config);
  const x = brand(seeded([2, 3, 3, 16], 5), ["batch", "height", "width", "channels"]) as Images;
  assert.equal(maxAbsDiff(selfAttention2d(params, x, config), x), 0);
  const r = seeded([2, 3, 3, 16], 6);
  const f = (xi: tf.Tensor, wq: tf.Tensor, gamma: tf.Tensor) =>
    tf.sum(
      tf.mul(
        selfAttention2d({ ...params, q: { ...params.q, w: wq }, gamma }, xi as Images, config),
        r,
      ),
    ) as tf.Scalar;
  const [a, n] = directionalCheck(f, [x, params.q.w, tf.scalar(0.5)]);
  assert.ok(Math.abs(a - n) <= 2e-2 * Math.max(1, Math.abs(n)), `analytic ${a} vs numeric ${n}`);
});

Deno.test("encoderBlock() keeps the shape; its gradient checks out", () => {
  const config = { dim: 8, heads: 2, mlpDim: 16 };
  const params = initEncoderBlock(new Rng(3), config);
  const x = seeded([2, 4, 8], 7);
  assert.deepEqual(encoderBlock(params, x as Tokens, config).shape, [2, 4, 8]);
  const r = seeded([2, 4, 8], 8);
  const f = (xi: tf.Tensor, w1: tf.Tensor, wqkv: tf.Tensor) =>
    tf.sum(tf.mul(
      encoderBlock(
        {
          ...params,
          mlp1: { ...params.mlp1, w: w1 },
          attn: { ...params.attn, qkv: { ...params.attn.qkv, w: wqkv } },
        },
        xi as Tokens,
        config,
      ),
      r,
    )) as tf.Scalar;
  const [a, n] = directionalCheck(f, [x, tf.mul(params.mlp1.w, 20), tf.mul(params.attn.qkv.w, 20)]);
  assert.ok(Math.abs(a - n) <= 2e-2 * Math.max(1, Math.abs(n)), `analytic ${a} vs numeric ${n}`);
});
