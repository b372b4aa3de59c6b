// The fast CPU kernels against tfjs's own cpu backend, on random shapes:
// transposes, batch broadcasting, strides, paddings, reductions, slices.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../../src/backend/select.ts";
import { setConvChunkFloats, setConvForm } from "../../src/backend/cpu/conv_kernels.ts";
import { checkWasmInternals } from "../../src/backend/cpu/wasm_internals.ts";
import { BATCH_NORM, batchNorm, LAYER_NORM, layerNorm } from "../../src/layers/norm.ts";
import { GELU, gelu } from "../../src/layers/activations.ts";
import {
  ATTENTION,
  attention,
  type BHSD,
  initMHA,
  mergeHeads,
  multiHeadAttention,
  SPLIT_HEADS,
  splitHeadParts,
} from "../../src/layers/attention.ts";
import { Rng } from "../../src/core/rng.ts";
import type { Tokens } from "../../src/core/tensor.ts";
import { maxAbsDiff, onCpu, seeded, setup } from "../_setup.ts";

await setup();
const fast = (await selectBackend("auto", true)).name === "fast";

/** Values and gradients of `f` on the current backend and on cpu, compared. */
async function agree(
  name: string,
  inputs: tf.Tensor[],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  withGrads = true,
) {
  const tol = 1e-4;
  const run = () =>
    tf.tidy(() => {
      const y = f(...inputs);
      const r = seeded(y.shape, 99);
      const grads = withGrads
        ? tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)))(inputs)
        : [];
      return [y, ...grads].map((t) => Array.from(t.dataSync()));
    });
  const ours = run(), ref = await onCpu(run);
  ours.forEach((o, i) => {
    const scale = Math.max(1, ...ref[i].map(Math.abs));
    const err = maxAbsDiff(o, ref[i]) / scale;
    assert.ok(err <= tol, `${name}: output ${i} differs from cpu by ${err} (relative)`);
  });
}

Deno.test({
  name: "fast kernels: wasm internals are where the kernels expect them",
  ignore: !fast,
  fn: () => checkWasmInternals(tf.backend()),
});

Deno.test({
  name: "fast kernels: matMul with transposes and batch broadcasting agrees with cpu",
  ignore: !fast,
  fn: async () => {
    // tfjs's matMul gradient does not reduce broadcast batch axes (on any
    // backend), so broadcasting cases compare values only.
    const cases: [number[], number[], boolean, boolean, boolean?][] = [
      [[5, 7], [7, 3], false, false],
      [[7, 5], [7, 3], true, false],
      [[5, 7], [3, 7], false, true],
      [[7, 5], [3, 7], true, true],
      [[4, 5, 7], [4, 7, 3], false, false],
      [[2, 3, 7, 5], [2, 3, 6, 7], true, true],
      [[4, 5, 7], [7, 3], false, false, false], // b shared: folded into rows
      [[4, 7, 5], [7, 3], true, false, false],
      [[1, 5, 7], [4, 7, 3], false, false, false], // a broadcast
      [[2, 3, 5, 7], [1, 3, 7, 2], false, false, false], // broadcast on a leading axis
      [[3, 0, 7], [3, 7, 2], false, false], // empty
    ];
    for (const [sa, sb, ta, tb, grads] of cases) {
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, ta, tb);
      await agree(
        `matMul ${sa} ${sb} ${ta} ${tb}`,
        [seeded(sa, 1), seeded(sb, 2)],
        f,
        grads ?? true,
      );
    }
  },
});

Deno.test({
  name: "fast kernels: conv2d and both its gradients agree with cpu (strides, paddings)",
  ignore: !fast,
  fn: async () => {
    const cases: [number[], number[], number, "same" | "valid" | number][] = [
      [[2, 8, 8, 3], [3, 3, 3, 5], 1, "same"],
      [[2, 7, 9, 4], [3, 3, 4, 6], 1, "valid"],
      [[1, 6, 6, 2], [5, 5, 2, 3], 1, "same"],
      [[2, 5, 5, 3], [1, 1, 3, 4], 1, "same"],
      [[2, 6, 6, 8], [3, 3, 8, 3], 1, "same"], // narrow output: one sgemm per tap, not widened
      [[2, 6, 6, 3], [2, 2, 3, 4], 1, "same"], // even kernel: asymmetric padding
      [[2, 6, 6, 3], [3, 3, 3, 4], 1, 2], // explicit padding
      [[2, 8, 8, 3], [3, 3, 3, 4], 2, "same"], // stride 2: stock and fallback kernels
      [[1, 9, 9, 2], [3, 3, 2, 2], 2, "valid"],
      [[2, 7, 7, 3], [3, 3, 3, 2], 2, 1],
    ];
    // More bottom and right padding than the filter minus one (the grid form cannot hold its dy).
    const wide: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [0, 3],
      [1, 4],
      [0, 0],
    ];
    const check = async (label: string) => {
      for (const [sx, sw, stride, pad] of cases) {
        await agree(
          `conv2d x${sx} w${sw} s${stride} ${pad}${label}`,
          [seeded(sx, 3), seeded(sw, 4, 0.5)],
          (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
        );
      }
      await agree(
        `conv2d with padding ${JSON.stringify(wide)}${label}`,
        [seeded([2, 6, 6, 3], 5), seeded([3, 3, 3, 4], 6, 0.5)],
        (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, wide),
      );
    };
    // Each form on every case (by map size, these small maps would all take im2col).
    for (const form of ["grid", "im2col"] as const) {
      const old = setConvForm(form);
      try {
        await check(`, ${form} form`);
      } finally {
        setConvForm(old);
      }
    }
    // Training-size inputs go through im2col in several chunks: so must these.
    const old = setConvChunkFloats(200);
    try {
      await check(", in chunks of a few positions");
    } finally {
      setConvChunkFloats(old);
    }
  },
});

Deno.test({
  name: "fast kernels: sum, slice, split, identity and cast agree with cpu",
  ignore: !fast,
  fn: async () => {
    const x = seeded([3, 4, 5, 6], 5);
    for (const axis of [0, 1, [0, 1], [0, 1, 2], [1, 2], 3, [2, 3], [0, 2]]) {
      await agree(`sum ${axis}`, [x], (t) => tf.sum(t, axis));
      await agree(`sum ${axis} keepDims`, [x], (t) => tf.sum(t, axis, true));
    }
    await agree("slice", [x], (t) => tf.slice(t, [1, 0, 2, 1], [2, 4, 2, 4]));
    await agree("slice whole rows", [x], (t) => tf.slice(t, [1, 1, 0, 0], [1, 2, 5, 6]));
    await agree(
      "split",
      [x],
      (t) => tf.concat(tf.split(t, [1, 3, 2], 3).map((p, i) => tf.mul(p, i + 1)), 3),
    );
    await agree("identity", [x], (t) => tf.add(tf.clone(t), 1));
    await agree("cast to its own dtype", [x], (t) => tf.mul(tf.cast(t, "float32"), t));
    await agree(
      "cast to int32 and back",
      [x],
      (t) => tf.cast(tf.cast(tf.mul(t, 3), "int32"), "float32"),
      false,
    );
    const original = tf.tensor1d([1.5, -2]), same = tf.cast(original, "float32");
    assert.equal(same.dataId, original.dataId, "a cast to the same dtype copies");
    original.dispose(); // the cast shares the data, which must outlive the original
    assert.deepEqual([...same.dataSync()], [1.5, -2]);
    same.dispose();
    assert.deepEqual([...tf.cast(tf.tensor1d([0, 3, -2], "int32"), "float32").dataSync()], [
      0,
      3,
      -2,
    ]);
    assert.deepEqual([...tf.cast(tf.tensor1d([1.7, -1.7]), "int32").dataSync()], [1, -1]);
    await agree("concat last axis", [x, seeded([3, 4, 5, 2], 6)], (a, b) => tf.concat([a, b], 3));
    await agree("concat axis 1", [x, seeded([3, 1, 5, 6], 7)], (a, b) => tf.concat([b, a, b], 1));
    const img = seeded([2, 6, 7, 3], 8);
    await agree("maxPool 2x2", [img], (t) => tf.maxPool(t as tf.Tensor4D, 2, 2, "valid"));
    await agree("maxPool 3x3 s2 same", [img], (t) => tf.maxPool(t as tf.Tensor4D, 3, 2, "same"));
    const ints = tf.tensor2d([[1, 2, 3], [4, 5, 6]], undefined, "int32");
    assert.deepEqual(tf.slice(ints, [0, 1], [2, 2]).arraySync(), [[2, 3], [5, 6]]);
  },
});

Deno.test({
  name:
    "fast kernels: the fused layer norm and its gradient agree with the ops on cpu, without leaks",
  ignore: !fast,
  fn: async () => {
    assert.ok(tf.getKernel(LAYER_NORM, "wasm"), "the fast path registers the fused layer norm");
    for (const shape of [[3, 16], [2, 5, 24], [4, 65, 8]]) {
      const d = shape.at(-1)!;
      const x = seeded(shape, 21, 3), s = seeded([d], 22), b = seeded([d], 23);
      // On cpu no fused kernel is registered: layerNorm() there is the op-by-op reference.
      await agree(
        `layerNorm ${shape}`,
        [x, s, b],
        (xs, ss, bs) => layerNorm({ scale: ss, shift: bs }, xs),
      );
      const before = tf.memory().numTensors;
      const { value, grads } = tf.valueAndGrads((xs: tf.Tensor, ss: tf.Tensor, bs: tf.Tensor) =>
        tf.sum(layerNorm({ scale: ss, shift: bs }, xs)) as tf.Scalar
      )([x, s, b]);
      tf.dispose([value, ...grads]);
      tf.dispose(layerNorm({ scale: s, shift: b }, x)); // evaluation: nothing kept for a gradient
      assert.equal(tf.memory().numTensors, before, `layerNorm ${shape} left tensors behind`);
      tf.dispose([x, s, b]);
    }
  },
});

Deno.test({
  name:
    "fast kernels: the fused batch norm (batch statistics) and its gradient agree with the ops on cpu, without leaks",
  ignore: !fast,
  fn: async () => {
    assert.ok(tf.getKernel(BATCH_NORM, "wasm"), "the fast path registers the fused batch norm");
    // Channel counts with and without a 4-float tail; 70 rows cross a 64-row block.
    // An empty batch too: no rows to reduce.
    for (const shape of [[2, 3, 3, 8], [1, 5, 14, 5], [3, 2, 2, 3], [4, 4, 4, 24], [0, 2, 2, 3]]) {
      const c = shape[3];
      // An offset of 3 and a spread of 2: the variance's two passes matter.
      const x = tf.tidy(() => tf.add(tf.mul(seeded(shape, 31), 2), 3)) as tf.Tensor4D;
      const s = seeded([c], 32), b = seeded([c], 33);
      // On cpu no fused kernel is registered: batchNorm() there is the op-by-op reference.
      const f = (xs: tf.Tensor, ss: tf.Tensor, bs: tf.Tensor) =>
        batchNorm({ scale: ss, shift: bs }, xs as never, null);
      await agree(`batchNorm ${shape}`, [x, s, b], f);
      const before = tf.memory().numTensors;
      const { value, grads } = tf.valueAndGrads((xs: tf.Tensor, ss: tf.Tensor, bs: tf.Tensor) =>
        tf.sum(tf.square(f(xs, ss, bs))) as tf.Scalar
      )([x, s, b]);
      tf.dispose([value, ...grads]);
      tf.dispose(f(x, s, b)); // no gradient: nothing kept
      assert.equal(tf.memory().numTensors, before, `batchNorm ${shape} left tensors behind`);
      tf.dispose([x, s, b]);
    }
    // An empty batch: statistics of no rows as tf.moments gives them (mean 0,
    // variance 0), not the loop's 0/0; sums over no rows 0.
    const empty = tf.tidy(() => {
      const x = tf.zeros([0, 2, 2, 3]), s = tf.ones([3]), b = tf.zeros([3]);
      const [, mean, rstd] = tf.engine().runKernel(BATCH_NORM, { x, scale: s, shift: b }, {
        eps: 1e-4,
      }) as tf.Tensor[];
      const grads = tf.grads((xs: tf.Tensor, ss: tf.Tensor, bs: tf.Tensor) =>
        tf.sum(batchNorm({ scale: ss, shift: bs }, xs as never, null))
      )([x, s, b]);
      return [mean, rstd, ...grads].map((t) => Array.from(t.dataSync()));
    });
    assert.deepEqual(empty, [[0, 0, 0], [100, 100, 100], [], [0, 0, 0], [0, 0, 0]]);
  },
});

/** Tensors left behind by `f` (which must dispose what it returns). */
function leaked(f: () => void): number {
  const before = tf.memory().numTensors;
  f();
  return tf.memory().numTensors - before;
}

Deno.test({
  name: "fast kernels: the fused GELU and its gradient agree with the ops on cpu, without leaks",
  ignore: !fast,
  fn: async () => {
    assert.ok(tf.getKernel(GELU, "wasm"), "the fast path registers the fused GELU");
    // [7]: the SIMD body and a scalar tail; scale 12 reaches both saturated ends of σ.
    for (const [shape, scale] of [[[7], 12], [[3, 65, 16], 4], [[2, 9], 0.01]] as const) {
      const x = seeded([...shape], 31, scale);
      await agree(`gelu ${shape} x${scale}`, [x], (t) => gelu(t));
      const n = leaked(() => {
        const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => tf.sum(gelu(t)) as tf.Scalar)(x);
        tf.dispose([value, grad, gelu(x)]);
      });
      assert.equal(n, 0, `gelu ${shape} left tensors behind`);
      x.dispose();
    }
  },
});

Deno.test({
  name: "fast kernels: attention heads split and merged in one copy agree with the ops on cpu",
  ignore: !fast,
  fn: async () => {
    assert.ok(tf.getKernel(SPLIT_HEADS, "wasm"), "the fast path registers the head split");
    const x = seeded([2, 5, 3 * 4 * 3], 41); // [B, N, parts·H·dh]: 3 parts, 4 heads of 3
    const flat = (ts: tf.Tensor[]) => tf.concat(ts.map((t) => t.reshape([-1])));
    await agree("split 3 parts x 4 heads", [x], (t) => flat(splitHeadParts(t, 3, 4)));
    await agree("split 1 part x 4 heads", [x], (t) => flat(splitHeadParts(t, 1, 4)));
    await agree("merge 4 heads", [seeded([2, 4, 5, 3], 42)], (t) => mergeHeads(t));
    // Split, attend, merge: the gradient flows through both kernels.
    await agree("split, attention, merge", [x], (t) => {
      const [q, k, v] = splitHeadParts(t, 3, 4);
      return mergeHeads(attention(q, k, v));
    });
    const config = { dim: 12, heads: 4 };
    const params = initMHA(new Rng(3), config);
    const tokens = seeded([2, 5, 12], 43);
    await agree(
      "multiHeadAttention",
      [tokens, params.qkv.w, params.out.w],
      (t, wqkv, wout) =>
        multiHeadAttention(
          { qkv: { ...params.qkv, w: wqkv }, out: { ...params.out, w: wout } },
          t as Tokens,
          config,
        ),
    );
    const n = leaked(() => {
      const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => {
        const [q, k, v] = splitHeadParts(t, 3, 4) as [BHSD, BHSD, BHSD];
        return tf.sum(mergeHeads(attention(q, k, v))) as tf.Scalar;
      })(x);
      tf.dispose([value, grad]);
    });
    assert.equal(n, 0, "the head split left tensors behind");
    assert.throws(() => splitHeadParts(x, 3, 5), /width 36 does not divide into 3 x 5 heads/);
  },
});

Deno.test({
  name: "fast kernels: the SIMD max-pool gradient sends ties to the first maximum, as cpu does",
  ignore: !fast,
  fn: async () => {
    // After a ReLU most windows tie at 0; 8 channels run in SIMD, 6 leave a scalar tail,
    // and odd sizes leave a row and a column that no window covers.
    for (const shape of [[2, 6, 8, 8], [1, 7, 5, 6]]) {
      const x = tf.relu(seeded(shape, 51));
      await agree(
        `maxPool 2x2 ${shape} with ties`,
        [x],
        (t) => tf.maxPool(t as tf.Tensor4D, 2, 2, "valid"),
      );
      x.dispose();
    }
    // 'same' padding on an odd size puts a window past the edge: the general loop takes it.
    const odd = seeded([2, 7, 7, 8], 52);
    await agree(
      "maxPool 2x2 same on 7x7",
      [odd],
      (t) => tf.maxPool(t as tf.Tensor4D, 2, 2, "same"),
    );
    // A window of -∞ gets no gradient on cpu; a NaN never wins. Channels 0-3 and 8 (the
    // scalar tail) are -∞ at every pixel; 4-7 and 9 read NaN, 1, 2, 0.5 over the window.
    const pixel = (other: number) => [
      ...Array(4).fill(-Infinity),
      ...Array(4).fill(other),
      -Infinity,
      other,
    ];
    const special = tf.tensor4d([...pixel(NaN), ...pixel(1), ...pixel(2), ...pixel(0.5)], [
      1,
      2,
      2,
      10,
    ]);
    const grad = (t: tf.Tensor) =>
      tf.grad((u: tf.Tensor) => tf.sum(tf.maxPool(u as tf.Tensor4D, 2, 2, "valid")))(t);
    const ours = tf.tidy(() => Array.from(grad(special).dataSync()));
    const ref = await onCpu(() => tf.tidy(() => Array.from(grad(special).dataSync())));
    assert.deepEqual(ours, ref, "the -∞ and NaN windows route their gradient as on cpu");
    tf.dispose([odd, special]);
  },
});

Deno.test({
  name: "fast kernels: fused attention and its gradient agree with the ops on cpu, without leaks",
  ignore: !fast,
  fn: async () => {
    assert.ok(tf.getKernel(ATTENTION, "wasm"), "the fast path registers the fused attention");
    // nq ≠ nk, d ≠ dv, rows of 7 and 65 (a SIMD body and a scalar tail), and scores
    // large enough (scale 4) that the softmax is far from uniform.
    for (
      const [b, h, nq, nk, d, dv] of [[2, 3, 5, 7, 4, 3], [1, 2, 65, 65, 8, 8], [1, 1, 1, 1, 1, 1]]
    ) {
      const q = seeded([b, h, nq, d], 61, 4), k = seeded([b, h, nk, d], 62, 4);
      const v = seeded([b, h, nk, dv], 63);
      await agree(
        `attention ${[b, h, nq, nk, d, dv]}`,
        [q, k, v],
        (qs, ks, vs) => attention(qs as BHSD, ks as BHSD, vs as BHSD),
      );
      const n = leaked(() => {
        const f = (qs: tf.Tensor, ks: tf.Tensor, vs: tf.Tensor) =>
          tf.sum(attention(qs as BHSD, ks as BHSD, vs as BHSD)) as tf.Scalar;
        const { value, grads } = tf.valueAndGrads(f)([q, k, v]);
        tf.dispose([value, ...grads, attention(q as BHSD, k as BHSD, v as BHSD)]);
      });
      assert.equal(n, 0, "the fused attention left tensors behind");
      tf.dispose([q, k, v]);
    }
  },
});
