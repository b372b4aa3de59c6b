// Runs that never lose work (issue #15): a run folder belongs to one run, a
// resume continues exactly the run it names, and a kill at any moment leaves
// a folder that resumes cleanly.
import assert from "node:assert/strict";
import { join } from "node:path";
import { stamp, UsageError } from "../../src/cli/args.ts";
import { decodeSafetensors, encodeSafetensors } from "../../src/core/safetensors.ts";
import { ATOMIC_TEMP, removeStaleFiles } from "../../src/core/stale_files.ts";
import { readCheckpoint } from "../../src/train/checkpoint.ts";
import { defaultConfig, SAMPLE_DIR, type TrainConfig } from "../../src/train/config.ts";
import { resume, train } from "../../src/train/loop.ts";
import { main as trainMain } from "../../tasks/train.ts";
import { copyRun, deadPid, task, TINY, tinyWith } from "../_tasks.ts";
import { setup } from "../_setup.ts";

await setup();

const tmp = await Deno.makeTempDir({ prefix: "run_safety_" });
// One finished 1-epoch ViT run, trained on a copy of the sample at tmp/data
// (so a test can move its data); tests change copies of it.
const data = join(tmp, "data");
await Deno.mkdir(data);
for (const f of ["data_batch_1.bin", "test_batch.bin"]) {
  await Deno.copyFile(join(decodeURIComponent(SAMPLE_DIR.pathname), f), join(data, f));
}
const fixture = join(tmp, "fixture");
{
  const r = await task("train.ts", ["vit", ...tinyWith({ data }), "--out", fixture]);
  assert.equal(r.code, 0, r.stderr);
}
const read = (dir: string, f: string) => Deno.readFileSync(join(dir, f));
const metricsOf = (dir: string) =>
  Deno.readTextFileSync(join(dir, "metrics.jsonl")).trim().split("\n").map((l) => JSON.parse(l));

Deno.test("train --out refuses a folder holding another run and leaves it byte-identical", async () => {
  const run = await copyRun(fixture, join(tmp, "taken"));
  const before = ["checkpoint.safetensors", "config.json", "metrics.jsonl", "summary.json"].map(
    (f) => read(run, f),
  );
  const r = await task("train.ts", ["cnn", ...TINY, "--out", run]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /already holds a run.*--resume .*taken.*choose a new folder with --out/);
  const after = ["checkpoint.safetensors", "config.json", "metrics.jsonl", "summary.json"].map(
    (f) => read(run, f),
  );
  assert.deepEqual(after, before);
});

Deno.test("train without --out never shares a folder: taken timestamped names get a suffix", async () => {
  // Stand-ins for runs that took this minute's and the next two's folder names.
  const cwd = join(tmp, "defaults"), now = Date.now();
  for (let s = 0; s < 180; s++) {
    const dir = join(cwd, "runs", `vit-${stamp(new Date(now + 1000 * s))}`);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(join(dir, "config.json"), "{}");
  }
  // Two runs at once, as two engineers starting the same command.
  const [a, b] = await Promise.all([1, 2].map(() => task("train.ts", ["vit", ...TINY], { cwd })));
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const outs = [a, b].map((r) => JSON.parse(r.stdout).out as string);
  assert.notEqual(outs[0], outs[1]);
  for (const out of outs) {
    assert.match(out, /^runs\/vit-\d{8}-\d{6}-\d+$/);
    assert.equal(JSON.parse(Deno.readTextFileSync(join(cwd, out, "config.json"))).out, out);
    assert.equal(metricsOf(join(cwd, out)).length, 1);
  }
  const standIns = [...Deno.readDirSync(join(cwd, "runs"))].filter((e) =>
    /^vit-\d{8}-\d{6}$/.test(e.name)
  );
  assert.equal(standIns.length, 180);
  for (const e of standIns) {
    assert.equal(Deno.readTextFileSync(join(cwd, "runs", e.name, "config.json")), "{}");
  }
});

Deno.test("train --resume honours --epochs, --minutes, --data and --backend and saves them", async () => {
  const run = await copyRun(fixture, join(tmp, "longer"));
  const moved = join(tmp, "data-moved");
  await Deno.rename(data, moved); // the data moved since the run started
  try {
    const r = await task("train.ts", [
      "vit",
      "--resume",
      "longer", // relative to the caller's folder
      "--epochs",
      "2",
      "--minutes",
      "30",
      "--data",
      "data-moved",
      "--backend",
      "fast",
    ], { initCwd: tmp });
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await Deno.rename(moved, data);
  }
  assert.deepEqual(metricsOf(run).map((m) => m.epoch), [1, 2]);
  const saved = JSON.parse(Deno.readTextFileSync(join(run, "config.json")));
  const ckpt = (await readCheckpoint(join(run, "checkpoint.safetensors"))).header.run.config;
  for (const config of [saved, ckpt]) {
    assert.deepEqual(
      [config.epochs, config.minutes, config.data, config.backend, config.out],
      [2, 30, moved, "fast", run],
    );
  }
});

Deno.test("train --resume refuses flags that define the run and another model's run (exit 2)", async () => {
  for (
    const flags of [
      ["--preset", "small"],
      ["--lr", "0.1"],
      ["--out", "elsewhere"],
      ["--batch-size", "8"],
      ["--seed", "3"],
      ["--train-size", "10"],
      ["--no-augment"],
      ["--tta", "flip"],
    ]
  ) {
    await assert.rejects(
      trainMain(["vit", "--resume", fixture, ...flags]),
      (e: Error) =>
        e instanceof UsageError &&
        e.message.startsWith(`${flags[0]} cannot be given with --resume`) &&
        /only --epochs, --minutes, --data and --backend may change/.test(e.message),
    );
  }
  const before = read(fixture, "checkpoint.safetensors");
  const r = await task("train.ts", ["cnn", "--resume", fixture]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /holds a vit run, not a cnn run; resume it with "deno task train:vit/);
  assert.deepEqual(read(fixture, "checkpoint.safetensors"), before);
});

function tinyConfig(out: string): TrainConfig {
  return {
    ...defaultConfig("vit"),
    preset: "tiny",
    epochs: 2,
    batchSize: 32,
    data: "sample",
    trainSize: 64,
    testSize: 20,
    tta: "none",
    out,
  };
}

Deno.test("train(): a resume makes metrics.jsonl agree with the checkpoint, whatever the kill left", async () => {
  const out = join(tmp, "killed");
  await train(tinyConfig(out), { quiet: true, stopAfterEpoch: 1 });
  const [epoch1] = metricsOf(out);
  // Killed after the checkpoint of epoch 1 but before its line, then (a later
  // attempt) after epoch 2's line but before its checkpoint, mid-way through a line.
  const fake = { ...epoch1, epoch: 2, trainLoss: 999 };
  Deno.writeTextFileSync(join(out, "metrics.jsonl"), JSON.stringify(fake) + '\n{"epoch":');
  await resume(out, {}, { quiet: true });
  const metrics = metricsOf(out);
  assert.deepEqual(metrics.map((m) => m.epoch), [1, 2]);
  assert.deepEqual(metrics[0], epoch1);
  assert.notEqual(metrics[1].trainLoss, 999);
});

Deno.test("resume(): the locked run folder keeps no temporary file of any writer, however young", async () => {
  const run = await copyRun(fixture, join(tmp, "temps"));
  const dead = await deadPid();
  const old = join(run, `checkpoint.safetensors.tmp-${dead}-1`);
  const fresh = join(run, `config.json.tmp-${dead}-2`);
  // Pid 1 is always running, and /proc is unreadable to the tasks (Deno asks
  // for --allow-all): neither may keep a file alive in a folder whose lock
  // this run holds, since no other process writes there.
  const live = join(run, "checkpoint.safetensors.tmp-1-3");
  for (const f of [old, fresh, live]) Deno.writeTextFileSync(f, "half a file");
  const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
  await Deno.utime(old, twoHoursAgo, twoHoursAgo); // stale by age where /proc cannot tell
  await resume(run, { epochs: 1 }, { quiet: true });
  const exists = (f: string) => Deno.stat(f).then(() => true, () => false);
  for (const f of [old, fresh, live]) assert.equal(await exists(f), false, f);
  const left = await removeStaleFiles(run, ATOMIC_TEMP, { folderLocked: true });
  assert.deepEqual(left, []);
});

Deno.test("train refuses a batch larger than the training images: exit 2, nothing created", async () => {
  for (
    const [flags, message] of [
      [["--batch-size", "100000"], /--batch-size 100000 is larger than the 1000 training images/],
      [
        ["--train-size", "5"],
        /--batch-size 128 is larger than the 5 training images.*--train-size/,
      ],
    ] as const
  ) {
    const out = join(tmp, "never", "made");
    const r = await task("train.ts", [
      "vit",
      "--preset",
      "tiny",
      "--data",
      "sample",
      ...flags,
      "--out",
      out,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(await Deno.stat(join(tmp, "never")).then(() => true, () => false), false);
  }
});

Deno.test("a refused resume changes nothing in the folder: a reshaped tensor is named, config.json stays", async () => {
  const run = await copyRun(fixture, join(tmp, "reshaped"));
  const path = join(run, "checkpoint.safetensors");
  const file = decodeSafetensors(Deno.readFileSync(path));
  const [name, t] = [...file.tensors].find(([n, t]) =>
    !n.startsWith("opt.") && t.shape.length > 1
  )!;
  // The same values as one flat axis: a checkpoint of another shape of model.
  file.tensors.set(name, { ...t, shape: [t.data.length] });
  Deno.writeFileSync(path, encodeSafetensors(file.tensors, file.metadata));
  const files = ["checkpoint.safetensors", "config.json", "metrics.jsonl", "summary.json"];
  const before = files.map((f) => read(run, f));
  const r = await task("train.ts", ["vit", "--resume", run, "--epochs", "3"]);
  assert.notEqual(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(name), r.stderr);
  assert.deepEqual(files.map((f) => read(run, f)), before);
  assert.equal(JSON.parse(Deno.readTextFileSync(join(run, "config.json"))).epochs, 1);
});

Deno.test('--resume given a file, or nothing, and --out "" are usage errors that name the flag', async () => {
  const file = join(tmp, "x.safetensors");
  Deno.writeFileSync(file, read(fixture, "checkpoint.safetensors"));
  const cwd = join(tmp, "empty-out");
  await Deno.mkdir(cwd);
  for (
    const [args, message] of [
      [["cnn", "--resume", file], /--resume .*x\.safetensors is a file, not a run folder/],
      [["cnn", "--resume", ""], /--resume needs the run's folder/],
      [["vit", ...TINY, "--out", ""], /--out needs a folder name/],
      [["vit", ...TINY, "--out", "  "], /--out needs a folder name/],
    ] as const
  ) {
    const r = await task("train.ts", [...args], { cwd });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /os error/);
  }
  assert.deepEqual([...Deno.readDirSync(cwd)], [], "nothing written into the working folder");
});

Deno.test("run_safety: clean up", async () => {
  await Deno.remove(tmp, { recursive: true });
});
