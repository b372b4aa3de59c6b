import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { brand, type Images, type Tokens } from "../../src/core/tensor.ts";
import {
  attention,
  attentionWeights,
  type BHSD,
  initMHA,
  multiHeadAttention,
} from "../../src/layers/attention.ts";
import { encoderBlock, initEncoderBlock } from "../../src/layers/encoder.ts";
import { initSelfAttention2d, selfAttention2d } from "../../src/layers/self_attention_2d.ts";
import { directionalCheck, maxAbsDiff, seeded, setup } from "../_setup.ts";

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

/** A linear map `x W + b` of one position's channels, by loops. */
function affine(x: number[], w: number[][], b: number[]): number[] {
  return b.map((bo, o) => x.reduce((s, xi, i) => s + xi * w[i][o], bo));
}

Deno.test("selfAttention2d() with gamma != 0 matches a naive loop over positions and heads", () => {
  const config = { channels: 8, heads: 2, qkChannels: 4 };
  const params = initSelfAttention2d(new Rng(4), config);
  // Non-zero biases, so a projection that dropped them would show.
  const p = {
    ...params,
    q: { ...params.q, b: seeded([4], 11, 0.3) },
    k: { ...params.k, b: seeded([4], 12, 0.3) },
    v: { ...params.v, b: seeded([8], 13, 0.3) },
    out: { ...params.out, b: seeded([8], 14, 0.3) },
    gamma: tf.scalar(0.7),
  };
  const x = brand(seeded([2, 2, 3, 8], 15, 2), ["batch", "height", "width", "channels"]) as Images;
  const got = selfAttention2d(p, x, config);
  const arr = <T>(t: tf.Tensor) => t.arraySync() as T;
  const [wq, wk, wv, wo] = [p.q.w, p.k.w, p.v.w, p.out.w].map((t) => arr<number[][]>(t));
  const [bq, bk, bv, bo] = [p.q.b, p.k.b, p.v.b, p.out.b].map((t) => arr<number[]>(t));
  const xs = arr<number[][][][]>(x);
  const expected: number[] = [];
  for (const image of xs) {
    const positions = image.flat(); // row-major: (0,0), (0,1), ..., (1,2)
    const q = positions.map((c) => affine(c, wq, bq)), k = positions.map((c) => affine(c, wk, bk));
    const v = positions.map((c) => affine(c, wv, bv));
    for (const [i, xi] of positions.entries()) {
      // Head h attends with query/key channels 2h..2h+1 and value channels 4h..4h+3.
      const attended: number[] = [];
      for (let h = 0; h < 2; h++) {
        const scores = k.map((kj) =>
          (q[i][2 * h] * kj[2 * h] + q[i][2 * h + 1] * kj[2 * h + 1]) / Math.sqrt(2)
        );
        const e = scores.map((sc) => Math.exp(sc - Math.max(...scores)));
        const z = e.reduce((a, b) => a + b, 0);
        for (let c = 4 * h; c < 4 * h + 4; c++) {
          attended.push(v.reduce((s, vj, j) => s + (e[j] / z) * vj[c], 0));
        }
      }
      const o = affine(attended, wo, bo);
      expected.push(...xi.map((xc, c) => xc + 0.7 * o[c]));
    }
  }
  assert.ok(maxAbsDiff(got, expected) <= 1e-5, `max difference ${maxAbsDiff(got, expected)}`);
  assert.ok(maxAbsDiff(got, x) > 0.1, "the attention branch contributes");
  tf.dispose([got, x, p.q.b, p.k.b, p.v.b, p.out.b, p.gamma]);
  disposeTree(params);
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
