import assert from "node:assert/strict";
import { join } from "node:path";
import {
  compare,
  type CompareOptions,
  matchedPair,
  type ModelResult,
  paired,
  parseModels,
  PendingRunsError,
  readRun,
  runConfig,
  stat,
} from "../../src/entries/report.ts";
import { RunInterruptedError, train } from "../../src/train/loop.ts";
import { lineChart, ticks } from "../../src/report/svg.ts";
import { holdInAnotherProcess } from "../_lock_holder.ts";
import { exists } from "../../src/core/exists.ts";
import { existsSync, task } from "../_tasks.ts";
import { setup } from "../_setup.ts";

await setup();

const TINY_PAIR = [{ kind: "cnn", preset: "tiny" }, { kind: "vit", preset: "tiny" }] as const;

function tinyOptions(out: string, over: Partial<CompareOptions> = {}): CompareOptions {
  return {
    models: [...TINY_PAIR],
    epochs: 1,
    minutes: 0,
    seeds: 2,
    data: "sample",
    trainSize: 128,
    testSize: 100,
    batchSize: 32,
    backend: "auto",
    out,
    quiet: true,
    ...over,
  };
}

Deno.test("compare() on the shipped sample writes the report, results and plots; an interrupted one resumes to the same numbers", async () => {
  const out = await Deno.makeTempDir();
  const { results, report } = await compare(tinyOptions(out));
  const files = new Set([...Deno.readDirSync(out)].map((e) => e.name));
  for (
    const f of ["report.md", "results.json", "compare.json", "cnn-tiny-seed0", "vit-tiny-seed1"]
  ) {
    assert.ok(files.has(f), `missing ${f}`);
  }
  for (
    const plot of [
      "loss_vs_epoch",
      "accuracy_vs_epoch",
      "loss_vs_time",
      "accuracy_vs_time",
      "per_class_accuracy",
      "confusion_cnn-tiny",
      "confusion_vit-tiny",
      "attention_maps",
    ]
  ) {
    assert.ok(files.has(`${plot}.svg`), `missing ${plot}.svg`);
    const svg = await Deno.readTextFile(join(out, `${plot}.svg`));
    assert.match(svg, /<text[^>]*>[^<]+<\/text>/, `${plot}.svg has no text`);
  }
  assert.ok(results.paramGap <= 0.05, `parameter gap ${results.paramGap}`);
  assert.deepEqual(results.models.map((m) => m.key), ["cnn:tiny", "vit:tiny"]);
  assert.deepEqual(results.models.map((m) => m.seeds), [[0, 1], [0, 1]]);
  assert.equal(results.budget, "epochs");
  assert.equal(results.trainImages, 128);
  assert.equal(results.testImages, 100);
  const [cnn, vit] = results.models, [pair] = results.pairs;
  assert.deepEqual(pair.diffs, [0, 1].map((i) => cnn.seedAccuracy[i] - vit.seedAccuracy[i]));
  const onDisk = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  assert.equal(onDisk.models[1].finalTestAccuracy.mean, vit.finalTestAccuracy.mean);
  assert.match(report, /^# CNN with self-attention vs ViT/);
  assert.match(report, /\| CNN-SA \(tiny\) \| 22,491 \|/);
  assert.ok(report.includes(pct(vit.finalTestAccuracy)), "the table quotes the ViT accuracy");
  assert.match(report, /Matched pair \(22,491 vs 22,202 parameters, 1\.3% apart\)/);
  // "Best epoch" is the best one-view evaluation of an epoch, never the views-averaged final one.
  for (const m of results.models) {
    const best = await Promise.all(m.runs.map(async (dir) =>
      Math.max(
        ...(await Deno.readTextFile(join(dir, "metrics.jsonl"))).trim().split("\n").map((l) =>
          JSON.parse(l).testAccuracy
        ),
      )
    ));
    assert.equal(m.bestTestAccuracy.mean, best.reduce((a, b) => a + b) / best.length, m.key);
  }

  // Interrupt two runs: one before its first checkpoint (only config.json
  // left), one after training but before its summary. Resuming retrains the
  // first, finishes the second, reuses the rest, and gives the same numbers.
  const killedEarly = join(out, "vit-tiny-seed1"), killedLate = join(out, "cnn-tiny-seed1");
  for (const f of Deno.readDirSync(killedEarly)) {
    if (f.name !== "config.json") await Deno.remove(join(killedEarly, f.name));
  }
  await Deno.remove(join(killedLate, "summary.json"));
  // While another process holds one of them (a second `compare --resume` on
  // the same folder, say), this one does every other run and then says which
  // are pending instead of writing a report.
  const holder = await holdInAnotherProcess(killedLate);
  try {
    await assert.rejects(compare(tinyOptions(out)), (e: unknown) => {
      assert.ok(e instanceof PendingRunsError, String(e));
      assert.deepEqual(e.pending, [killedLate]);
      assert.match(e.message, /deno task compare --resume/);
      return true;
    });
  } finally {
    await holder.kill();
  }
  assert.ok(await Deno.stat(join(killedEarly, "summary.json")), "the free run was retrained");
  const again = await compare(tinyOptions(out));
  assert.deepEqual(
    again.results.models.map((m) => m.seedAccuracy),
    results.models.map((m) => m.seedAccuracy),
  );
  assert.ok(results.models.every((m) => m.measured === undefined), "no speed measured unasked");
  // Every run done, and another process is writing the report: this one leaves it alone.
  const reporter = await holdInAnotherProcess(out);
  try {
    await assert.rejects(compare(tinyOptions(out)), (e: unknown) => {
      assert.ok(e instanceof PendingRunsError, String(e));
      assert.deepEqual(e.pending, []);
      assert.match(
        e.message,
        new RegExp(`process ${reporter.pid} is writing the report`),
      );
      return true;
    });
  } finally {
    await reporter.kill();
  }
  // Reusing the finished runs through --runs gives the same numbers too; this
  // time each model's speed is measured alone and reported beside the runs'.
  const reused = await compare({
    ...tinyOptions(join(out, "again")),
    runs: ["cnn-tiny-seed0", "vit-tiny-seed0"].map((d) => join(out, d)),
    speedSteps: 2,
  });
  assert.equal(reused.results.models[0].finalTestAccuracy.mean, cnn.seedAccuracy[0]);
  for (const m of reused.results.models) {
    const s = m.measured!;
    assert.equal(s.steps, 2, `${m.key}: one step in each of two rounds`);
    assert.equal(s.batchSize, 32, `${m.key}: the runs' batch`);
    assert.ok(
      s.stepRange[0] <= s.imagesPerSecond && s.imagesPerSecond <= s.stepRange[1],
      `${m.key}: ${s.imagesPerSecond} images/s outside its steps' range ${s.stepRange}`,
    );
  }
  // A default-named folder (uniqueOut) that exists is never reused: two
  // reports asked for at once land in `again-2` and `again-3`.
  const both = await Promise.all([1, 2].map(() =>
    compare({
      ...tinyOptions(join(out, "again")),
      runs: ["cnn-tiny-seed0", "vit-tiny-seed0"].map((d) => join(out, d)),
      uniqueOut: true,
    })
  ));
  assert.deepEqual(both.map((b) => b.out).sort(), [join(out, "again-2"), join(out, "again-3")]);
  const [mc, mv] = reused.results.models.map((m) => m.measured!.imagesPerSecond.toFixed(0));
  assert.match(reused.report, /\| images\/s \(runs\) \| images\/s \(alone\) \|/);
  assert.ok(
    reused.report.includes(
      `Training speed measured alone after the runs on ${
        reused.results.models[0].measured!.backend
      }`,
    ) &&
      reused.report.includes(`CNN-SA (tiny) ${mc} images/s`) &&
      reused.report.includes(`ViT (tiny) ${mv} images/s`),
    "the speed sentence quotes the measured rates",
  );
  await Deno.remove(out, { recursive: true });
});

function pct(s: { mean: number; std: number }): string {
  return `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)} %`;
}

Deno.test("compare() refuses a mismatched set before training or creating anything", async () => {
  const root = await Deno.makeTempDir(), out = join(root, "c");
  await assert.rejects(
    compare(tinyOptions(out, { models: parseModels("cnn:hour,cnn:hour-noattn,vit:hour") })),
    /cnn:hour \(952,053 parameters\) and vit:hour \(594,314\) differ by 60\.2%/,
  );
  await assert.rejects(
    compare(tinyOptions(out, { models: parseModels("cnn:hour-noattn,vit:hour-deep") })),
    /needs a CNN with self-attention and a ViT/,
  );
  // Finished runs are checked by their recorded counts, before --out is made.
  for (
    const [name, model, preset, params] of [["a", "cnn", "tiny", 1000], [
      "b",
      "vit",
      "tiny",
      2000,
    ]] as const
  ) {
    await Deno.mkdir(join(root, name));
    const config = { model, preset, data: "sample", augment: true };
    const summary = { params, testAccuracy: 0.5, trainImages: 10, testImages: 10 };
    await Deno.writeTextFile(join(root, name, "config.json"), JSON.stringify(config));
    await Deno.writeTextFile(join(root, name, "summary.json"), JSON.stringify(summary));
    await Deno.writeTextFile(join(root, name, "metrics.jsonl"), "");
  }
  await assert.rejects(
    compare(tinyOptions(out, { runs: [join(root, "a"), join(root, "b")] })),
    /cnn:tiny \(1,000 parameters\) and vit:tiny \(2,000\) differ by 50\.0%/,
  );
  assert.equal(await exists(out), false, "no output folder for a refused comparison");
  // The matched hour set passes the check (no training happens here).
  assert.ok(matchedPair(parseModels("cnn:hour,cnn:hour-noattn,vit:hour-deep")).gap < 0.01);
  await Deno.remove(root, { recursive: true });
});

Deno.test("compare() refuses to continue a folder that holds a comparison with other settings", async () => {
  const out = await Deno.makeTempDir();
  await Deno.writeTextFile(join(out, "compare.json"), JSON.stringify({ epochs: 3 }));
  await assert.rejects(compare(tinyOptions(out)), /holds a comparison with other settings/);
  assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), ["compare.json"]);
  await Deno.remove(out, { recursive: true });
});

Deno.test("parseModels() reads kind:preset lists and names what is wrong", () => {
  assert.deepEqual(parseModels("cnn:hour, vit:hour-deep"), [
    { kind: "cnn", preset: "hour" },
    { kind: "vit", preset: "hour-deep" },
  ]);
  assert.throws(() => parseModels("cnn"), /"cnn" is not a model; write kind:preset/);
  assert.throws(() => parseModels("vit:hour-noattn"), /vit has no preset "hour-noattn"/);
  assert.throws(() => parseModels("cnn:tiny,cnn:tiny"), /"cnn:tiny" appears twice/);
});

Deno.test("paired() gives the per-seed differences, their t statistic and the 95% verdict", () => {
  const model = (key: string, seeds: number[], acc: number[]) =>
    ({ key, seeds, seedAccuracy: acc, seedAccuracyPlain: acc }) as unknown as ModelResult;
  // Differences 0.02, 0.03, 0.01: mean 0.02, sample std 0.01, t = 0.02 / (0.01 / sqrt 3) = 3.46,
  // below t(0.975, 2 df) = 4.303.
  const p = paired(
    model("a", [0, 1, 2], [0.80, 0.82, 0.81]),
    model("b", [2, 0, 1], [0.80, 0.78, 0.79]),
    "matched",
  );
  assert.deepEqual(p.seeds, [0, 1, 2]);
  p.diffs.forEach((d, i) => assert.ok(Math.abs(d - [0.02, 0.03, 0.01][i]) < 1e-12));
  assert.ok(Math.abs(p.difference.mean - 0.02) < 1e-12);
  assert.ok(Math.abs(p.difference.std - 0.01) < 1e-12);
  assert.ok(Math.abs(p.t - 3.4641) < 1e-4, `t = ${p.t}`);
  assert.equal(p.tCritical, 4.303);
  assert.equal(p.significant, false);
  assert.equal(p.sameSign, 3);
  // Twice the gap with the same spread crosses the critical value.
  const q = paired(
    model("a", [0, 1, 2], [0.84, 0.86, 0.85]),
    model("b", [0, 1, 2], [0.80, 0.81, 0.82]),
    "matched",
  );
  assert.ok(Math.abs(q.t - 6.9282) < 1e-4 && q.significant);
});

Deno.test("readRun() names the malformed file", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "config.json"), "{}");
  await Deno.writeTextFile(join(dir, "summary.json"), "{ not json");
  await Deno.writeTextFile(join(dir, "metrics.jsonl"), "");
  await assert.rejects(readRun(dir), (e: Error) => {
    assert.ok(e.message.startsWith(join(dir, "summary.json")), e.message);
    assert.match(e.message, /is not valid JSON/);
    return true;
  });
  await assert.rejects(
    readRun(join(dir, "nope")),
    /config\.json is missing: is ".*nope" a finished training run/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lineChart(): a legend whose names do not fit one row takes a row each, above the plot", () => {
  const series = [
    "CNN-SA (hour), 952,053 params",
    "CNN, no attention (hour-noattn), 773,562 params",
  ]
    .map((name, i) => ({ name, points: [[0, i], [1, i + 1]] as [number, number][] }));
  const rows = (svg: string) =>
    new Set([...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="14"/g)].map((m) => m[1])).size;
  assert.equal(rows(lineChart({ title: "t", xLabel: "x", yLabel: "y", series })), 2);
  const short = series.map((s, i) => ({ ...s, name: `m${i}` }));
  assert.equal(rows(lineChart({ title: "t", xLabel: "x", yLabel: "y", series: short })), 1);
});

Deno.test("stat() and ticks() give the numbers the report relies on", () => {
  assert.deepEqual(stat([1, 2, 3]), { mean: 2, std: 1, n: 3 });
  assert.deepEqual(stat([5]), { mean: 5, std: 0, n: 1 });
  assert.deepEqual(ticks(13.5, 18.5), [13, 14, 15, 16, 17, 18, 19]);
});

Deno.test("compare(): a run another process finished meanwhile is taken up at the end, and the report written", async () => {
  const out = await Deno.makeTempDir(), scratch = await Deno.makeTempDir();
  const o = tinyOptions(out);
  // What the other process will have trained: the same run, finished elsewhere.
  const template = join(scratch, "vit");
  await train({ ...runConfig(o, { kind: "vit", preset: "tiny" }, 0), out: template }, {
    quiet: true,
  });
  const held = join(out, "vit-tiny-seed0");
  await Deno.mkdir(held, { recursive: true });
  // It holds the run until this process has passed it (seed 1 has started), then finishes it.
  const other = await holdInAnotherProcess(held, {
    when: join(out, "cnn-tiny-seed1", "config.json"),
    from: template,
  });
  try {
    const { results } = await compare(o);
    assert.deepEqual(results.models.map((m) => m.seeds), [[0, 1], [0, 1]]);
  } finally {
    await other.kill();
  }
  assert.ok(await Deno.stat(join(out, "report.md")));
  await Deno.remove(out, { recursive: true });
  await Deno.remove(scratch, { recursive: true });
});

Deno.test("two compare processes share one comparison: each run trained once, one report", async () => {
  const out = await Deno.makeTempDir();
  const flags = ["--speed-steps", "0"];
  const first = task("compare.ts", [
    ...["--models", "cnn:tiny,vit:tiny", "--epochs", "1", "--seeds", "2", "--data", "sample"],
    ...["--train-size", "1000", "--test-size", "50", "--batch-size", "32", "--out", out],
    ...flags,
  ]);
  // The second joins as a user would, with --resume, once the first has saved the plan.
  const plan = join(out, "compare.json");
  while (!(await Deno.stat(plan).then(() => true, () => false))) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const second = task("compare.ts", ["--resume", out, ...flags]);
  const both = await Promise.all([first, second]);
  for (const r of both) assert.equal(r.code, 0, r.stderr);
  const log = both.map((r) => r.stderr).join("\n");
  // Whether they overlapped depends on timing; the test above makes that deterministic.
  for (
    const label of ["cnn:tiny, seed 0", "vit:tiny, seed 0", "cnn:tiny, seed 1", "vit:tiny, seed 1"]
  ) {
    const trained = log.split("\n").filter((l) => l === `compare: ${label}: training`);
    assert.equal(trained.length, 1, `${label} trained ${trained.length} times:\n${log}`);
  }
  assert.ok(both.some((r) => r.stdout.includes("Report:")), `no process wrote the report:\n${log}`);
  assert.ok(await Deno.stat(join(out, "report.md")));
  assert.equal(
    JSON.parse(await Deno.readTextFile(join(out, "results.json"))).models.length,
    2,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("runConfig(): a comparison's threads reach every run; one saved without them keeps one", () => {
  const o = tinyOptions("/tmp/x");
  const m = { kind: "cnn" as const, preset: "tiny" };
  assert.equal(runConfig({ ...o, threads: 2 }, m, 1).threads, 2);
  assert.equal(runConfig({ ...o, threads: "auto" }, m, 1).threads, "auto");
  // compare.json written before threads existed: the runs' configs match the ones they trained with.
  assert.equal("threads" in runConfig({ ...o, threads: undefined }, m, 1), false);
});

Deno.test("compare(): a stop that comes while the report is being made stops it, and a resume writes it", async () => {
  const out = await Deno.makeTempDir();
  const controller = new AbortController();
  // Abort once the report has begun (its first plot is written): the rest of
  // its plots (models run on test images) take well over this poll.
  const last = join(out, "loss_vs_epoch.svg");
  const poll = setInterval(() => {
    if (existsSync(last)) {
      clearInterval(poll);
      controller.abort();
    }
  }, 2);
  const options = tinyOptions(out, { seeds: 1 });
  try {
    await assert.rejects(
      compare({ ...options, signal: controller.signal }),
      (e: unknown) => e instanceof RunInterruptedError && /before the report/.test(e.message),
    );
  } finally {
    clearInterval(poll);
  }
  assert.ok(controller.signal.aborted);
  assert.equal(existsSync(join(out, "report.md")), false, "no report written after the stop");
  const { results } = await compare(options); // the resume: every run is reused
  assert.equal(results.models.length, 2);
  assert.ok(existsSync(join(out, "report.md")));
  await Deno.remove(out, { recursive: true });
});
