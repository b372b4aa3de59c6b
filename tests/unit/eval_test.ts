// Evaluation of a checkpoint: it needs only the test batch, and a diverged
// model (NaN weights or logits) is flagged instead of scored silently.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree, mapTree } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { CNN_PRESETS, cnnSpec } from "../../src/models/presets.ts";
import { evaluate, nonFiniteTensors } from "../../src/train/evaluate.ts";
import { setup } from "../_setup.ts";

await setup();

Deno.test("evaluate() counts images with non-finite logits and warns once", async () => {
  const spec = cnnSpec(CNN_PRESETS.tiny);
  const params = spec.init(new Rng(0));
  const nan = mapTree(params, (t) => tf.fill(t.shape, NaN));
  const set = { images: new Uint8Array(6 * 3072), labels: new Uint8Array(6), size: 6 };
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  assert.equal((await evaluate(spec, params, set, { warn })).nonFiniteImages, 0);
  assert.deepEqual(warnings, []);
  const broken = await evaluate(spec, nan, set, { warn, batchSize: 4 });
  assert.equal(broken.nonFiniteImages, 6);
  assert.deepEqual(warnings, [
    "6 of 6 test images got NaN or infinite logits, so the accuracy means nothing; the weights " +
    "have probably diverged (check them for non-finite values, or use an earlier checkpoint)",
  ]);
  // Without `warn` (training's final evaluation) the warning goes to the console.
  const consoleWarn = console.warn;
  const printed: unknown[][] = [];
  console.warn = (...args: unknown[]) => printed.push(args);
  try {
    await evaluate(spec, nan, set);
  } finally {
    console.warn = consoleWarn;
  }
  assert.deepEqual(printed, [[`Warning: ${warnings[0]}`]]);
  assert.deepEqual(nonFiniteTensors(params), []);
  assert.deepEqual(nonFiniteTensors({ a: tf.tensor1d([1, Infinity]), b: tf.tensor1d([0]) }), [
    "a",
  ]);
  [params, nan].forEach(disposeTree);
});
