/**
 * The `hour` presets' training defaults are the recipes of the shipped
 * one-hour weights: `deno task train:<kind> --preset hour --minutes 60` must
 * train what the records in docs/hour/<kind> say was trained.
 */
import assert from "node:assert/strict";
import {
  defaultConfig,
  microBatchesFor,
  presetDefaults,
  type TrainConfig,
} from "../src/train/config.ts";
import type { ModelKind } from "../src/models/presets.ts";

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
    const url = new URL(`../docs/hour/${kind}/config.json`, import.meta.url);
    const shipped = JSON.parse(await Deno.readTextFile(url)) as TrainConfig;
    assert.equal(shipped.model, kind);
    assert.equal(shipped.preset, "hour");
    const defaults = { ...defaultConfig(kind), ...presetDefaults(kind, "hour") };
    assert.deepEqual(recipe(defaults), recipe(shipped));
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
