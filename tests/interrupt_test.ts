// Stopping a run without losing it: mid-epoch checkpoints that resume at the
// next step with the same arithmetic, an AbortSignal (what Ctrl-C raises in
// the tasks) that stops after the step under way, and SIGINT to the real task.
import assert from "node:assert/strict";
import { join } from "node:path";
import { disposeTree, flatten } from "../src/core/params.ts";
import { Rng } from "../src/core/rng.ts";
import { modelSpec } from "../src/models/presets.ts";
import { compare } from "../src/report/compare.ts";
import { readCheckpoint } from "../src/train/checkpoint.ts";
import { defaultConfig, type TrainConfig } from "../src/train/config.ts";
import { RunInterruptedError, train } from "../src/train/loop.ts";
import { setup } from "./_setup.ts";
import { ROOT, TASK_PERMISSIONS } from "./_tasks.ts";

await setup();

/** Tiny ViT on 512 sample images: 8 steps an epoch. */
function config(out: string, extra: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...defaultConfig("vit"),
    preset: "tiny",
    epochs: 2,
    batchSize: 64,
    lr: 3e-3,
    warmupEpochs: 0.5,
    data: "sample",
    trainSize: 512,
    testSize: 100,
    backend: "auto",
    tta: "none",
    out,
    ...extra,
  };
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

  await train(config("ignored"), { quiet: true, resume: stopped });
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
  const out = await Deno.makeTempDir();
  const stop = new AbortController();
  stop.abort();
  await assert.rejects(
    train(config(out), { quiet: true, signal: stop.signal }),
    /training stopped at epoch 1, step 1 of 8; the checkpoint in .* resumes there/,
  );
  assert.equal((await header(out)).partial?.step, 1);
  const summary = await train(config("ignored"), {
    quiet: true,
    resume: out,
    resumeWith: { epochs: 1 },
  });
  assert.equal(summary.steps, 8);
  assert.equal(metricLines(out).length, 1);
  await Deno.remove(out, { recursive: true });
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
  // Ctrl-C during the first run's first step: a signal that reads "not
  // aborted" when compare looks before the run, and "aborted" from then on.
  let looks = 0;
  const duringFirstStep = {
    get aborted() {
      return looks++ > 0;
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
    const flags = ["--preset", "tiny", "--data", "sample", "--batch-size", "16", "--tta", "none"];
    const child = new Deno.Command(Deno.execPath(), {
      args: [...args, ...flags, "--epochs", "50", "--test-size", "20", "--out", out],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // config.json is written after the listener is installed and before the first step.
    while (!(await exists(join(out, "config.json")))) await delay(100);
    await delay(500);
    child.kill("SIGINT");
    const done = await child.output();
    const stderr = new TextDecoder().decode(done.stderr);
    assert.equal(done.code, 130, stderr);
    assert.match(stderr, /stopping after the step under way/);
    assert.match(stderr, /continue with: deno task train:vit --resume /);
    const run = await header(out);
    assert.ok(run.partial !== undefined || run.epoch > 0, JSON.stringify(run));
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

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
