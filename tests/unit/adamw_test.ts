import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree, flatten } from "../../src/core/params.ts";
import { ADAMW_DEFAULTS, adamwStep, initAdamW } from "../../src/train/adamw.ts";
import { adamwStepOnHost } from "../../src/train/adamw_host.ts";
import { maxAbsDiff, seeded, setup } from "../_setup.ts";

await setup();

Deno.test("adamwStepOnHost() matches the tensor AdamW over steps, with clipping and decay", () => {
  const tree = () => ({
    w: seeded([4, 3], 1),
    b: seeded([3], 2),
    blocks: [{ k: seeded([2, 2, 2], 3) }],
  });
  for (const clipNorm of [0.5, 0]) {
    const config = { ...ADAMW_DEFAULTS, clipNorm, weightDecay: 0.1 };
    let a = tree(), b = tree();
    let sa = initAdamW(a), sb = initAdamW(b);
    for (let step = 0; step < 3; step++) {
      const grads = {
        w: seeded([4, 3], 10 + step, 3),
        b: seeded([3], 20 + step),
        blocks: [{ k: seeded([2, 2, 2], 30 + step) }],
      };
      const ra = adamwStep(a, grads, sa, 1e-2, config),
        rb = adamwStepOnHost(b, grads, sb, 1e-2, config);
      assert.ok(Math.abs(ra.gradNorm.dataSync()[0] - rb.gradNorm.dataSync()[0]) < 1e-5);
      [a, sa, b, sb].forEach((t) => "m" in t ? [t.m, t.v].forEach(disposeTree) : disposeTree(t));
      tf.dispose([ra.gradNorm, rb.gradNorm]);
      disposeTree(grads);
      [a, sa, b, sb] = [ra.params, ra.state, rb.params, rb.state];
      assert.equal(sb.step, step + 1);
    }
    for (const [x, y] of [[a, b], [sa.m, sb.m], [sa.v, sb.v]]) {
      const fy = flatten(y);
      flatten(x).forEach(([name, t], i) => {
        assert.equal(fy[i][0], name);
        assert.ok(
          maxAbsDiff(fy[i][1], Array.from(t.dataSync())) < 1e-6,
          `${name}, clip ${clipNorm}`,
        );
      });
    }
    [a, b, sa.m, sa.v, sb.m, sb.v].forEach(disposeTree);
  }
});

Deno.test("adamwStep() matches two AdamW steps worked out by hand", () => {
  const config = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, clipNorm: 0 };
  const params = { w: tf.tensor2d([[1, -2], [0.5, 3]]), b: tf.tensor1d([0.1]) };
  const g1 = { w: tf.tensor2d([[0.1, -0.2], [0, 0.4]]), b: tf.tensor1d([1]) };
  const one = adamwStep(params, g1, initAdamW(params), 0.1, config);
  // Step 1: m = 0.1 g and v = 0.001 g², so after bias correction (÷ 0.1,
  // ÷ 0.001) the update is g / (|g| + eps): the sign of g, 0 where g is 0.
  // The matrix decays first (w · (1 - 0.1 · 0.1) = 0.99 w); the bias does not.
  // w: [[0.99 - 0.1, -1.98 + 0.1], [0.495 - 0, 2.97 - 0.1]]; b: 0.1 - 0.1 · 1.
  assert.ok(maxAbsDiff(one.params.w, [0.89, -1.88, 0.495, 2.87]) < 1e-6);
  assert.ok(maxAbsDiff(one.params.b, [0]) < 1e-6);
  assert.ok(maxAbsDiff(one.state.m.w, [0.01, -0.02, 0, 0.04]) < 1e-7);
  assert.ok(maxAbsDiff(one.state.v.w, [1e-5, 4e-5, 0, 1.6e-4]) < 1e-9);
  assert.equal(one.state.step, 1);
  // Step 2 on the bias, gradient -1: m = 0.9 · 0.1 - 0.1 = -0.01, corrected
  // ÷ (1 - 0.81) = -0.0526316; v = 0.999 · 0.001 + 0.001 = 0.001999,
  // corrected ÷ (1 - 0.998001) = 1. b = 0 - 0.1 · (-0.0526316 / (1 + 1e-8)).
  const g2 = { w: tf.zeros([2, 2]), b: tf.tensor1d([-1]) };
  const two = adamwStep(one.params, g2, one.state, 0.1, config);
  assert.ok(maxAbsDiff(two.params.b, [0.00526316]) < 1e-7, `b ${two.params.b.dataSync()}`);
  assert.ok(maxAbsDiff(two.state.m.b, [-0.01]) < 1e-8);
  assert.ok(maxAbsDiff(two.state.v.b, [0.001999]) < 1e-9);
  // A zero gradient still moves w: the moments carry on and the decay applies.
  // m = 0.9 · 0.01 = 0.009, ÷ 0.19 = 0.0473684; v = 0.999 · 1e-5 = 9.99e-6,
  // ÷ 0.001999 = 0.0049975, √ = 0.0706930; update 0.670058.
  // w₀₀ = 0.89 · 0.99 - 0.1 · 0.670058 = 0.8811 - 0.0670058 = 0.8140942.
  assert.ok(Math.abs(two.params.w.dataSync()[0] - 0.8140942) < 1e-6);
  [params, g1, g2, one.params, one.state.m, one.state.v].forEach(disposeTree);
  [two.params, two.state.m, two.state.v].forEach(disposeTree);
  tf.dispose([one.gradNorm, two.gradNorm]);
});

Deno.test("adamwStep() clips the global gradient norm before the moments", () => {
  const config = { ...ADAMW_DEFAULTS, weightDecay: 0, clipNorm: 1 };
  const params = { a: tf.tensor1d([0]), b: tf.tensor1d([0]) };
  const grads = { a: tf.tensor1d([3]), b: tf.tensor1d([4]) }; // norm 5, clipped to 1
  const r = adamwStep(params, grads, initAdamW(params), 0.1, config);
  assert.ok(Math.abs(r.gradNorm.dataSync()[0] - 5) < 1e-6, "the norm before clipping");
  // m = 0.1 · (0.6, 0.8): the gradient scaled by 1 / (5 + 1e-6).
  assert.ok(
    maxAbsDiff([r.state.m.a.dataSync()[0], r.state.m.b.dataSync()[0]], [0.06, 0.08]) < 1e-7,
  );
  assert.ok(
    maxAbsDiff([r.state.v.a.dataSync()[0], r.state.v.b.dataSync()[0]], [3.6e-4, 6.4e-4]) < 1e-9,
  );
  [params, grads, r.params, r.state.m, r.state.v].forEach(disposeTree);
  r.gradNorm.dispose();
});
