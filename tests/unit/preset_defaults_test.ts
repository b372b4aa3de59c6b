/**
 * The `hour` presets' training defaults are the recipes of the shipped
 * one-hour weights: `deno task train:<kind> --preset hour --minutes 60` must
 * train what the records in docs/hour/<kind> say was trained.
 */
import assert from "node:assert/strict";
import {
  microBatchesFor,
  presetDefaults,
  resolveConfig,
  resumedConfig,
  type TrainConfig,
} from "../../src/train/config.ts";
import type { ModelKind } from "../../src/models/presets.ts";

const RECIPE_KEYS = [
  "epochs",
  "batchSize",
  "lr",
  "weightDecay",
  "warmupEpochs",
  "labelSmoothing",
  "clipNorm",
  "augment",
  "tta",
  "seed",
] as const;

/** The settings that decide what a run trains, micro-batches resolved as training resolves them. */
function recipe(c: TrainConfig): Record<string, unknown> {
  return {
    ...Object.fromEntries(RECIPE_KEYS.map((k) => [k, c[k]])),
    microBatches: microBatchesFor(c, 1),
  };
}

for (const kind of ["cnn", "vit"] as ModelKind[]) {
  Deno.test(`${kind}:hour defaults reproduce the shipped run's recipe (docs/hour/${kind})`, async () => {
    const url = new URL(`../../docs/hour/${kind}/config.json`, import.meta.url);
    const shipped = JSON.parse(await Deno.readTextFile(url)) as TrainConfig;
    assert.equal(shipped.model, kind);
    assert.equal(shipped.preset, "hour");
    // The function every task starts a run with, given only the preset.
    assert.deepEqual(recipe(resolveConfig(kind, { preset: "hour" })), recipe(shipped));
  });
}

Deno.test("presetDefaults: only hour presets bring defaults; hour-deep's micro-batches divide its batch", () => {
  for (const preset of ["tiny", "small", "base"]) {
    assert.deepEqual(presetDefaults("cnn", preset), {});
    assert.deepEqual(presetDefaults("vit", preset), {});
  }
  assert.deepEqual(presetDefaults("cnn", "hour-noattn"), presetDefaults("cnn", "hour"));
  const deep = presetDefaults("vit", "hour-deep");
  assert.equal(deep.batchSize! % deep.microBatches!, 0);
  assert.ok(
    deep.batchSize! / deep.microBatches! < 192,
    "hour-deep's micro-batch outgrows the wasm heap",
  );
});

Deno.test("resolveConfig(): what is asked for beats the preset, which beats the model's defaults", () => {
  // Golden values: the ViT's own defaults, the hour preset's, then the flags.
  const small = resolveConfig("vit");
  assert.equal(small.preset, "small");
  assert.equal(small.batchSize, 128);
  assert.equal(small.lr, 1e-3);
  assert.equal(small.microBatches, 1);
  const hour = resolveConfig("vit", { preset: "hour" });
  assert.equal(hour.lr, 2e-3);
  assert.equal(hour.warmupEpochs, 0.5);
  const asked = resolveConfig("vit", { preset: "hour", lr: 5e-4, seed: undefined });
  assert.equal(asked.lr, 5e-4);
  assert.equal(asked.seed, 0, "an undefined setting keeps the default");
  // hour-deep's two micro-batches apply where they split the batch, and only there.
  assert.equal(resolveConfig("vit", { preset: "hour-deep" }).microBatches, 2);
  assert.equal(resolveConfig("vit", { preset: "hour-deep", batchSize: 9 }).microBatches, 1);
  assert.throws(
    () => resolveConfig("cnn", { batchSize: 10, microBatches: 3 }),
    /--micro-batches 3 does not divide --batch-size 10/,
  );
  assert.throws(() => resolveConfig("cnn", { preset: "huge" }), /cnn has no preset "huge"/);
  // Refused here, before a run claims its folder: the generator keeps 32 bits.
  for (const seed of [-1, 0.5, 2 ** 32]) {
    assert.throws(() => resolveConfig("vit", { seed }), /must be a whole number from 0 to 2\^32-1/);
  }
});

Deno.test("resumedConfig(): only epochs, minutes, data and backend change; the folder is where the run is", () => {
  const saved = resolveConfig("cnn", { preset: "tiny", epochs: 2, out: "/old/place" });
  const changes = { epochs: 5, lr: 1, data: undefined } as Parameters<typeof resumedConfig>[1];
  const c = resumedConfig(saved, changes, "/new/place");
  assert.equal(c.epochs, 5);
  assert.equal(c.lr, saved.lr, "lr is not a resume change");
  assert.equal(c.data, saved.data);
  assert.equal(c.out, "/new/place");
});
