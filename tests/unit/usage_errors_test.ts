// Bad input gets one clear line that says what was wrong (issue #29, row
// 10): repeated flags, stray commas, seeds outside the generator's range, a
// model given another kind's config, absurd safetensors headers, and a
// diverged checkpoint exported without a word.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { brand, CNN_PRESETS, initCNN, initViT, Rng, vit, VIT_PRESETS } from "../../mod.ts";
import type { ViTConfig } from "../../mod.ts";
import { cnn, type CNNConfig } from "../../src/models/cnn.ts";
import { parseModels } from "../../src/compare/models.ts";
import { decodeSafetensors } from "../../src/core/safetensors.ts";
import { setup } from "../_setup.ts";

await setup();

Deno.test("Rng refuses seeds its 32-bit state cannot hold, and forks as it always did", () => {
  for (const seed of [-1, 1.5, 2 ** 32, NaN]) {
    assert.throws(() => new Rng(seed), /seed must be a whole number from 0 to 2\^32-1/);
  }
  new Rng(2 ** 32 - 1);
  // Golden values of the generator before seeds were checked: forks keep their streams.
  assert.equal(new Rng(42).fork().nextUint32(), 2371822929);
  assert.equal(new Rng(7).fork().fork().nextUint32(), 185647339);
});

Deno.test("vit() and cnn() given the other model's config say so", () => {
  const images = brand(tf.zeros([1, 32, 32, 3]), ["batch", "height", "width", "channels"]);
  const v = initViT(new Rng(0), VIT_PRESETS.tiny), c = initCNN(new Rng(0), CNN_PRESETS.tiny);
  assert.throws(
    () => vit(v, images, CNN_PRESETS.tiny as unknown as ViTConfig),
    /patchSize undefined, so it is not a ViT's config/,
  );
  assert.throws(
    () => cnn(c, images, VIT_PRESETS.tiny as unknown as CNNConfig),
    /no stages, so it is not a CNN's config/,
  );
  tf.dispose(images);
});

Deno.test("decodeSafetensors() names a 2^62-byte header length exactly", () => {
  const bytes = new Uint8Array(64);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 62n, true);
  assert.throws(
    () => decodeSafetensors(bytes, "huge.safetensors"),
    /header length 4611686018427387904 exceeds the file size 64/,
  );
});

Deno.test("parseModels() refuses an empty entry (a trailing or doubled comma)", () => {
  for (const text of ["cnn:tiny,vit:tiny,", "cnn:tiny,,vit:tiny", ",cnn:tiny"]) {
    assert.throws(() => parseModels(text), /has an empty entry/, text);
  }
});
