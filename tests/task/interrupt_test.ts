// Stopping a run without losing it: mid-epoch checkpoints that resume at the
// next step with the same arithmetic, an AbortSignal (what Ctrl-C raises in
// the tasks) that stops after the step under way, and SIGINT to the real task.
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { disposeTree, flatten, mapTree, splitBuffers, withBuffers } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { modelSpec } from "../../src/models/presets.ts";
import { compare } from "../../src/compare/compare.ts";
import { readCheckpoint } from "../../src/train/checkpoint.ts";
import { dataDir, type TrainConfig } from "../../src/train/config.ts";
import { loadCifar10 } from "../../src/data/cifar.ts";
import { calibrate } from "../../src/train/evaluate.ts";
import { resume, RunInterruptedError, train } from "../../src/train/loop.ts";
import { setup, tinyRunConfig } from "../_setup.ts";
import { exists } from "../../src/core/exists.ts";
import { existsSync, ROOT, TASK_PERMISSIONS } from "../_tasks.ts";

await setup();

/** The tiny run, without the final test-time augmentation (nothing here reads it). */
function config(out: string, extra: Partial<TrainConfig> = {}): TrainConfig {
  return tinyRunConfig(out, { tta: "none", ...extra });
}

async function header(dir: string) {
  return (await readCheckpoint(join(dir, "checkpoint.safetensors"))).header.run;
}

function metricLines(dir: string) {
  return Deno.readTextFileSync(join(dir, "metrics.jsonl")).trim().split("\n").map((l) => {
    // Times differ between two runs; everything else must not.
    const { trainSeconds: _, imagesPerSecond: __, ...m } = JSON.parse(l);
    return m;
  });
}

Deno.test("train(): a run stopped mid-epoch resumes at its next step and ends as an uninterrupted one", async () => {
  const straight = await Deno.makeTempDir(), stopped = await Deno.makeTempDir();
  await train(config(straight), { quiet: true });
  // Step 11 is the third of epoch 2; a checkpoint after every step must change nothing.
  await assert.rejects(
    train(config(stopped), { quiet: true, stopAfterStep: 11, checkpointMinutes: 0 }),
    (e: unknown) => {
      assert.ok(e instanceof RunInterruptedError, String(e));
      assert.match(e.message, /stopped at epoch 2, step 3 of 8/);
      assert.equal(e.dir, stopped);
      return true;
    },
  );
  const mid = await header(stopped);
  assert.equal(mid.epoch, 1);
  assert.equal(mid.step, 11);
  assert.equal(mid.optStep, 11);
  assert.equal(mid.partial?.step, 3);
  assert.equal(mid.partial?.seen, 3 * 64);
  assert.equal(metricLines(stopped).length, 1, "no metrics line for an unfinished epoch");
  assert.ok(!(await exists(join(stopped, "summary.json"))));

  await resume(stopped, {}, { quiet: true });
  const end = await header(stopped);
  assert.equal(end.partial, undefined, "the epoch's checkpoint clears the mid-epoch state");
  assert.deepEqual(metricLines(stopped), metricLines(straight));
  const template = modelSpec("vit", "tiny").init(new Rng(0));
  const a = (await readCheckpoint(join(straight, "checkpoint.safetensors"))).params(template);
  const b = (await readCheckpoint(join(stopped, "checkpoint.safetensors"))).params(template);
  const fb = flatten(b);
  for (const [i, [name, x]] of flatten(a).entries()) {
    assert.deepEqual(x.dataSync(), fb[i][1].dataSync(), name);
  }
  [template, a, b].forEach(disposeTree);
  for (const d of [straight, stopped]) await Deno.remove(d, { recursive: true });
});

Deno.test("train(): an aborted signal stops after the step under way with a checkpoint there", async () => {
  const out = join(await Deno.makeTempDir(), "run");
  const stop = new AbortController();
  stop.abort();
  // Aborted before training: nothing is written.
  await assert.rejects(
    train(config(out), { quiet: true, signal: stop.signal }),
    /stopped before training started; nothing was written/,
  );
  assert.ok(!(await exists(out)));
  // Aborted once the run has claimed its folder: it stops after its first step.
  const onceClaimed = {
    get aborted() {
      return existsSync(join(out, "config.json"));
    },
  } as AbortSignal;
  await assert.rejects(
    train(config(out), { quiet: true, signal: onceClaimed }),
    /training stopped at epoch 1, step 1 of 8; the checkpoint in .* resumes there/,
  );
  assert.equal((await header(out)).partial?.step, 1);
  // A resume must at least finish the epoch it stopped in.
  await assert.rejects(
    resume(out, { epochs: 0 }, { quiet: true }),
    /in the middle of epoch 1 \(step 1\); resume with --epochs 1 or more/,
  );
  const summary = await resume(out, { epochs: 1 }, { quiet: true });
  assert.equal(summary.steps, 8);
  assert.equal(metricLines(out).length, 1);
  await Deno.remove(join(out, ".."), { recursive: true });
});

Deno.test("compare(): an aborted signal stops the run under way; the comparison resumes from it", async () => {
  const out = join(await Deno.makeTempDir(), "cmp");
  const options = {
    models: [{ kind: "cnn", preset: "tiny" }, { kind: "vit", preset: "tiny" }] as const,
    epochs: 1,
    minutes: 0,
    seeds: 1,
    data: "sample",
    trainSize: 128,
    testSize: 50,
    batchSize: 32,
    backend: "auto" as const,
    out,
    quiet: true,
  };
  const stop = new AbortController();
  stop.abort();
  // Stopped before it starts: no run is begun.
  await assert.rejects(
    compare({ ...options, models: [...options.models], signal: stop.signal }),
    (e: unknown) => e instanceof RunInterruptedError && /before the next run/.test(e.message),
  );
  assert.ok(!(await exists(join(out, "cnn-tiny-seed0"))));
  // Ctrl-C during the first run's first step: a signal that reads "aborted"
  // once the run has claimed its folder.
  const first = join(out, "cnn-tiny-seed0");
  const duringFirstStep = {
    get aborted() {
      return existsSync(join(first, "config.json"));
    },
  } as AbortSignal;
  await assert.rejects(
    compare({ ...options, models: [...options.models], signal: duringFirstStep }),
    (e: unknown) => e instanceof RunInterruptedError && e.dir === join(out, "cnn-tiny-seed0"),
  );
  assert.equal((await header(join(out, "cnn-tiny-seed0"))).partial?.step, 1);
  assert.ok(!(await exists(join(out, "vit-tiny-seed0"))), "the next run did not start");
  const { results } = await compare({ ...options, models: [...options.models] });
  assert.deepEqual(results.models.map((m) => m.seeds), [[0], [0]]);
  await Deno.remove(join(out, ".."), { recursive: true });
});

Deno.test(
  "train task: Ctrl-C (SIGINT) stops with status 130 and a checkpoint that --resume continues",
  {
    ignore: Deno.build.os === "windows",
  },
  async () => {
    const out = join(await Deno.makeTempDir(), "run");
    const args = ["run", ...TASK_PERMISSIONS, join(ROOT, "tasks", "train.ts"), "vit"];
    // One thread: nothing in a step yields to the event loop unless the loop
    // makes it, so this is where a signal could go unheard. An epoch is 125
    // steps of 8 images, seconds long: the signal comes in its middle.
    const flags = ["--preset", "tiny", "--data", "sample", "--batch-size", "8", "--tta", "none"];
    const child = spawnTrain(out, [...args, ...flags, "--threads", "1", "--epochs", "50"]);
    await untilClaimed(out);
    child.kill("SIGINT");
    const done = await child.output();
    const stderr = new TextDecoder().decode(done.stderr);
    assert.equal(done.code, 130, stderr);
    assert.match(stderr, /stopping after the step under way/);
    assert.match(stderr, /continue with: deno task train:vit --resume /);
    const run = await header(out);
    assert.equal(run.epoch, 0, JSON.stringify(run));
    assert.ok(run.partial !== undefined && run.partial.step < 125, JSON.stringify(run));
    const resumed = await new Deno.Command(Deno.execPath(), {
      args: [...args, "--resume", out, "--epochs", String(run.epoch + 1)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
    assert.equal(JSON.parse(new TextDecoder().decode(resumed.stdout)).epochs, run.epoch + 1);
    await Deno.remove(join(out, ".."), { recursive: true });
  },
);

function spawnTrain(out: string, args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: [...args, "--test-size", "20", "--out", out],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** config.json is written after the signal listeners are installed and before the first step. */
async function untilClaimed(out: string) {
  while (!(await exists(join(out, "config.json")))) await delay(50);
  await delay(300);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("train(): a stop during an epoch's evaluation keeps its steps; the resume evaluates them", async () => {
  const straight = await Deno.makeTempDir(), stopped = await Deno.makeTempDir();
  await train(config(straight, { epochs: 1 }), { quiet: true });
  // train() reads the signal once before it claims the folder, once after each
  // of the 8 steps, then once per evaluated batch (100 test images: one).
  let looks = 0;
  const duringEvaluation = {
    get aborted() {
      return looks++ >= 9;
    },
  } as AbortSignal;
  await assert.rejects(
    train(config(stopped, { epochs: 1 }), { quiet: true, signal: duringEvaluation }),
    /stopped after epoch 1's steps, before its evaluation/,
  );
  const mid = await header(stopped);
  assert.equal(mid.epoch, 0);
  assert.equal(mid.partial?.step, 8);
  assert.equal(mid.trainSeconds, 0, "an epoch's time counts once it is evaluated");
  await resume(stopped, {}, { quiet: true });
  assert.deepEqual(metricLines(stopped), metricLines(straight));
  for (const d of [straight, stopped]) await Deno.remove(d, { recursive: true });
});

Deno.test("train(): a batch-norm CNN's mid-epoch checkpoint holds statistics of its own weights", async () => {
  const straight = await Deno.makeTempDir(), stopped = await Deno.makeTempDir();
  // cnn:hour is the batch-norm preset; 96 images at batch 32 keep it to three steps.
  const bn = (out: string) =>
    config(out, {
      model: "cnn",
      preset: "hour",
      epochs: 1,
      trainSize: 96,
      testSize: 20,
      batchSize: 32,
    });
  await train(bn(straight), { quiet: true });
  await assert.rejects(train(bn(stopped), { quiet: true, stopAfterStep: 2 }), RunInterruptedError);
  const spec = modelSpec("cnn", "hour");
  const template = spec.init(new Rng(0));
  const saved = (await readCheckpoint(join(stopped, "checkpoint.safetensors"))).params(template);
  const data = await loadCifar10(dataDir("sample"), { trainSize: 96, testSize: 1 });
  const { trainable, buffers } = splitBuffers(saved);
  const zeroed = withBuffers(
    mapTree(trainable, (t) => t.clone()),
    mapTree(buffers!, (t) => tf.zerosLike(t)),
  );
  const fresh = calibrate(spec, zeroed, data.train);
  const want = flatten(splitBuffers(fresh).buffers!), got = flatten(buffers!);
  for (const [i, [name, t]] of want.entries()) {
    assert.deepEqual(got[i][1].dataSync(), t.dataSync(), name);
  }
  await resume(stopped, {}, { quiet: true });
  const a = (await readCheckpoint(join(straight, "checkpoint.safetensors"))).params(template);
  const b = (await readCheckpoint(join(stopped, "checkpoint.safetensors"))).params(template);
  const fb = flatten(b);
  for (const [i, [name, x]] of flatten(a).entries()) {
    assert.deepEqual(x.dataSync(), fb[i][1].dataSync(), name);
  }
  [template, saved, fresh, a, b].forEach(disposeTree);
  for (const d of [straight, stopped]) await Deno.remove(d, { recursive: true });
});
