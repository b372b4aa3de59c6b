import assert from "node:assert/strict";
import { join } from "node:path";
import { compare, readRun, stat } from "../src/report/compare.ts";
import { ticks } from "../src/report/svg.ts";
import { setup } from "./_setup.ts";

await setup();

Deno.test("compare() on the shipped sample writes the report, results and plots for a matched pair", async () => {
  const out = await Deno.makeTempDir();
  const { results, report } = await compare({
    preset: "tiny",
    epochs: 1,
    minutes: 0,
    seeds: 1,
    data: "sample",
    trainSize: 256,
    testSize: 100,
    backend: "auto",
    out,
    quiet: true,
  });
  const files = new Set([...Deno.readDirSync(out)].map((e) => e.name));
  for (const f of ["report.md", "results.json", "cnn-seed0", "vit-seed0"]) {
    assert.ok(files.has(f), `missing ${f}`);
  }
  for (
    const plot of [
      "loss_vs_epoch",
      "accuracy_vs_epoch",
      "loss_vs_time",
      "accuracy_vs_time",
      "per_class_accuracy",
      "confusion_cnn",
      "confusion_vit",
      "attention_maps",
    ]
  ) {
    assert.ok(files.has(`${plot}.svg`), `missing ${plot}.svg`);
    const svg = await Deno.readTextFile(join(out, `${plot}.svg`));
    assert.match(svg, /<text[^>]*>[^<]+<\/text>/, `${plot}.svg has no text`);
  }
  assert.ok(results.paramGap <= 0.05, `parameter gap ${results.paramGap}`);
  assert.deepEqual(results.models.map((m) => m.model), ["cnn", "vit"]);
  assert.equal(results.trainImages, 256);
  assert.equal(results.testImages, 100);
  const onDisk = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  assert.equal(onDisk.models[1].finalTestAccuracy.mean, results.models[1].finalTestAccuracy.mean);
  assert.match(report, /^# CNN with self-attention vs ViT/);
  assert.match(report, /\| CNN-SA \(tiny\) \| 22,491 \|/);
  const vitAcc = (100 * results.models[1].finalTestAccuracy.mean).toFixed(2);
  assert.ok(report.includes(`${vitAcc} %`), "the table quotes the measured ViT accuracy");
  // Reusing the finished runs gives the same numbers.
  const again = await compare({
    ...{
      preset: "tiny",
      epochs: 1,
      minutes: 0,
      seeds: 1,
      data: "sample",
      backend: "auto" as const,
    },
    out: join(out, "again"),
    runs: [join(out, "cnn-seed0"), join(out, "vit-seed0")],
    quiet: true,
  });
  assert.equal(
    again.results.models[0].finalTestAccuracy.mean,
    results.models[0].finalTestAccuracy.mean,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("compare() refuses runs whose parameter counts differ by more than 5%", async () => {
  const out = await Deno.makeTempDir();
  const run = (model: string, params: number) => ({
    config: { model, data: "sample", augment: true },
    summary: { params, trainImages: 10, testImages: 10, perClassAccuracy: [], confusion: [] },
  });
  for (const [name, model, params] of [["a", "cnn", 1000], ["b", "vit", 2000]] as const) {
    await Deno.mkdir(join(out, name));
    const r = run(model, params);
    await Deno.writeTextFile(join(out, name, "config.json"), JSON.stringify(r.config));
    await Deno.writeTextFile(join(out, name, "summary.json"), JSON.stringify(r.summary));
    await Deno.writeTextFile(join(out, name, "metrics.jsonl"), "");
  }
  await assert.rejects(
    compare({
      preset: "tiny",
      epochs: 1,
      minutes: 0,
      seeds: 1,
      data: "sample",
      backend: "auto",
      out: join(out, "c"),
      runs: [join(out, "a"), join(out, "b")],
      quiet: true,
    }),
    /Parameter counts differ by 50\.0%/,
  );
  await assert.rejects(
    readRun(join(out, "nope")),
    /config\.json is missing: is ".*nope" a finished training run/,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("stat() and ticks() give the numbers the report relies on", () => {
  assert.deepEqual(stat([1, 2, 3]), { mean: 2, std: 1, n: 3 });
  assert.deepEqual(stat([5]), { mean: 5, std: 0, n: 1 });
  assert.deepEqual(ticks(13.5, 18.5), [13, 14, 15, 16, 17, 18, 19]);
});
