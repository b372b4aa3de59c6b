import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree, flatten } from "../src/core/params.ts";
import { ADAMW_DEFAULTS, adamwStep, initAdamW } from "../src/train/adamw.ts";
import { adamwStepOnHost } from "../src/train/adamw_host.ts";
import { maxAbsDiff, seeded, setup } from "./_setup.ts";

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
