import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { brand, checkShape, type Images, type Tokens } from "../../src/core/tensor.ts";
import { patchify } from "../../src/layers/patchify.ts";
import { setup } from "../_setup.ts";

await setup();

Deno.test("brand() accepts a tensor of the expected sizes", () => {
  const x = tf.zeros([2, 3, 4]);
  const t: Tokens = brand(x, ["batch", "seq", "dim"], [2, null, 4]);
  assert.deepEqual(t.shape, [2, 3, 4]);
  x.dispose();
});

Deno.test("checkShape() names both shapes when a size differs", () => {
  const x = tf.zeros([2, 3, 5]);
  assert.throws(
    () => checkShape(x, ["batch", "seq", "dim"], [2, 3, 4]),
    /shape \[batch=2, seq=3, dim=4\], got shape \[2,3,5\] \(axis "dim" is 5, not 4\)/,
  );
  assert.throws(
    () => checkShape(x, ["batch", "height", "width", "channels"]),
    /rank 4.*got shape \[2,3,5\]/,
  );
  x.dispose();
});

Deno.test("shape brands: a [batch, seq, dim] tensor is not Images (type-level)", () => {
  const tokens = brand(tf.zeros([1, 4, 4]), ["batch", "seq", "dim"]);
  const images = brand(tf.zeros([1, 4, 4, 1]), ["batch", "height", "width", "channels"]);
  const typeLevel = () => {
    // @ts-expect-error: tokens [batch, seq, dim] where images [batch, height, width, channels] are expected
    patchify(tokens, 2);
    // @ts-expect-error: an unbranded tensor is not Images either
    patchify(tf.zeros([1, 4, 4, 1]), 2);
    // @ts-expect-error: Images are not Tokens
    const t: Tokens = images;
    return t;
  };
  assert.equal(typeof typeLevel, "function"); // only type-checked, never run
  const ok: Images = images;
  assert.deepEqual(patchify(ok, 2).shape, [1, 4, 4]);
  tf.dispose([tokens, images]);
});
