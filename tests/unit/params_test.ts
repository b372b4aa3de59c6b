import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  countParams,
  disposeTree,
  flatten,
  leaves,
  mapTree,
  unflatten,
} from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { modelSpec } from "../../src/models/presets.ts";
import { setup } from "../_setup.ts";

await setup();

Deno.test("initViT()/initCNN(): the same seed gives the same parameters, bit for bit", () => {
  for (const kind of ["vit", "cnn"] as const) {
    const spec = modelSpec(kind, "tiny");
    const a = spec.init(new Rng(7)), b = spec.init(new Rng(7)), c = spec.init(new Rng(8));
    const fa = flatten(a), fb = flatten(b), fc = flatten(c);
    assert.deepEqual(fa.map(([n]) => n), fb.map(([n]) => n));
    for (let i = 0; i < fa.length; i++) {
      assert.deepEqual(
        new Uint8Array(fa[i][1].dataSync().buffer),
        new Uint8Array(fb[i][1].dataSync().buffer),
        fa[i][0],
      );
    }
    assert.ok(
      fa.some(([, t], i) => t.dataSync().some((v, j) => v !== fc[i][1].dataSync()[j])),
      "another seed differs",
    );
    [a, b, c].forEach(disposeTree);
  }
});

Deno.test("flatten() gives stable dotted names; unflatten() inverts it", () => {
  const tree = { b: { w: tf.ones([2]), a: tf.zeros([1]) }, list: [tf.scalar(1), tf.scalar(2)] };
  const flat = flatten(tree);
  assert.deepEqual(flat.map(([n]) => n), ["b.a", "b.w", "list.0", "list.1"]);
  const back = unflatten(tree, leaves(tree));
  assert.equal(back.b.w, tree.b.w);
  assert.equal(back.list[1], tree.list[1]);
  assert.throws(() => unflatten(tree, leaves(tree).slice(1)), /got 3 leaves/);
  assert.equal(countParams(tree), 5);
  const doubled = mapTree(tree, (t) => tf.mul(t, 2));
  assert.deepEqual(Array.from(doubled.b.w.dataSync()), [2, 2]);
  disposeTree(doubled);
  disposeTree(tree);
});

Deno.test("Rng: state round-trips, so a resumed stream continues exactly", () => {
  const r = new Rng(3);
  r.normal();
  const saved = r.state;
  const a = [r.normal(), r.uniform(), r.int(10)];
  const s = Rng.fromState(saved);
  assert.deepEqual([s.normal(), s.uniform(), s.int(10)], a);
  const p = new Rng(1).permutation(10);
  assert.deepEqual([...p].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
