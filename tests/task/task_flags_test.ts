// The tasks' command lines (issue #15): every flag checked with a usage error
// (exit 2) that names it, --help everywhere, paths relative to the folder the
// user ran the task from, and each task granted only what it uses.
import assert from "node:assert/strict";
import { join } from "node:path";
import { dataFlag, resolvePath, UsageError } from "../../src/cli/args.ts";
import { main as trainMain } from "../../tasks/train.ts";
import { deadPid, denoTask, ROOT, task, TINY, tinyWith } from "../_tasks.ts";

const tmp = await Deno.makeTempDir({ prefix: "task_flags_" });
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("resolvePath() resolves against INIT_CWD; absolute paths and --data sample stay", () => {
  const before = Deno.env.get("INIT_CWD");
  Deno.env.set("INIT_CWD", "/home/me/docs");
  try {
    assert.equal(resolvePath("relrun"), "/home/me/docs/relrun");
    assert.equal(resolvePath("../data"), "/home/me/data");
    assert.equal(resolvePath("/abs/run"), "/abs/run");
    assert.equal(resolvePath(undefined), undefined);
    assert.equal(dataFlag("sample"), "sample");
    assert.equal(dataFlag("cifar"), "/home/me/docs/cifar");
  } finally {
    if (before === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", before);
  }
});

Deno.test("deno task from a subfolder: train, eval, export and compare read and write there", async () => {
  const trained = await denoTask("train:vit", [...TINY, "--out", "relrun"], tmp);
  assert.equal(trained.code, 0, trained.stderr);
  assert.ok(await exists(join(tmp, "relrun", "checkpoint.safetensors")));
  assert.equal(await exists(join(ROOT, "relrun")), false, "nothing in the project root");
  // eval runs without --allow-write: deno.json no longer grants it.
  const ckpt = join("relrun", "checkpoint.safetensors");
  const evaluated = await denoTask(
    "eval",
    ["--checkpoint", ckpt, "--data", "sample", "--test-size", "20", "--no-tta", "--json"],
    tmp,
  );
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.equal(JSON.parse(evaluated.stdout).testImages, 20);
  const exported = await denoTask(
    "export",
    ["--checkpoint", ckpt, "--out", join("relrun", "w.safetensors")],
    tmp,
  );
  assert.equal(exported.code, 0, exported.stderr);
  assert.ok(await exists(join(tmp, "relrun", "w.safetensors")));
  const compared = await denoTask("compare", ["--runs", "nope-cnn", "nope-vit"], tmp);
  assert.equal(compared.code, 1);
  assert.ok(compared.stderr.includes(join(tmp, "nope-cnn")), compared.stderr);
});

Deno.test("deno.json grants each task only what it uses", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks;
  const command = (name: string) => tasks[name].command as string;
  assert.doesNotMatch(command("eval"), /--allow-write/);
  assert.doesNotMatch(command("info"), /--allow-(env|write|ffi|run)/);
  // bench's children may need LD_LIBRARY_PATH (the GPU driver's libraries on
  // CUDA machines), which Deno passes on only under an unrestricted --allow-run.
  assert.doesNotMatch(command("bench"), /--allow-write/);
  assert.match(command("bench"), /--allow-run(\s|$)/);
  // site runs only deno (to bundle); serve reads and listens on the loopback, nothing more.
  assert.match(command("site"), /--allow-run="\$\(deno eval -p 'Deno\.execPath\(\)'\)"/);
  assert.doesNotMatch(command("site"), /--allow-(ffi|net)|--allow-run(?!=)/);
  assert.doesNotMatch(command("serve"), /--allow-(write|ffi|run)|--allow-env(?!=)/);
  assert.match(command("serve"), /--allow-net=127\.0\.0\.1(\s|$)/);
  const info = await denoTask("info", ["--json"]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal(JSON.parse(info.stdout).length, 10); // 4 shared presets x 2 kinds, 2 of one kind
});

Deno.test("bench and site start their children where LD_LIBRARY_PATH is set, as on CUDA machines", async () => {
  // Deno passes LD_* on to a child only under an unrestricted --allow-run.
  const env = { LD_LIBRARY_PATH: join(tmp, "no-such-lib") };
  const bench = await denoTask(
    "bench",
    [
      "--json",
      "--paths",
      "fast",
      "--presets",
      "small",
      "--max-seconds",
      "1",
      "--batch-size",
      "8",
    ],
    ROOT,
    env,
  );
  assert.equal(bench.code, 0, bench.stderr);
  const records = JSON.parse(bench.stdout) as { error?: string; imagesPerSecond?: number }[];
  assert.deepEqual(records.filter((r) => r.error), []);
  assert.ok(records.some((r) => (r.imagesPerSecond ?? 0) > 0), bench.stdout);
  const site = await denoTask("site", ["--data", "sample", "--out", join(tmp, "site")], ROOT, env);
  assert.equal(site.code, 0, site.stderr);
  assert.ok(await exists(join(tmp, "site", "index.html")));
});

Deno.test("data removes the extraction folders of killed runs before it starts", async () => {
  const dead = join(tmp, `d.partial-${await deadPid()}`), live = join(tmp, "d.partial-1");
  for (const dir of [dead, live]) {
    await Deno.mkdir(join(dir, "cifar-10-batches-bin"), { recursive: true });
  }
  const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
  await Deno.utime(dead, twoHoursAgo, twoHoursAgo); // stale by age where /proc cannot tell
  const r = await denoTask("data", ["--out", "d", "--archive", "missing.tar.gz"], tmp);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--archive missing\.tar\.gz: .*No such file/);
  assert.match(r.stderr, /Removed .*d\.partial-\d+, left by an extraction that was killed/);
  assert.equal(await exists(dead), false);
  assert.equal(await exists(live), true, "pid 1 is running: its folder stays");
});

Deno.test("train: every bad value is a usage error naming the flag and what it wants", async () => {
  for (
    const [flags, message] of [
      [["--lr", "0"], /^--lr must be a number > 0, got "0"$/],
      [["--epochs", "-1"], /^--epochs must be an integer >= 1, got "-1"$/],
      [["--epochs=-1"], /^--epochs must be an integer >= 1, got "-1"$/],
      [["--minutes", "-1"], /^--minutes must be a number >= 0, got "-1"$/],
      [["--label-smoothing", "1"], /^--label-smoothing must be a number >= 0 and < 1, got "1"$/],
      [["--seed", "4294967296"], /^--seed must be an integer >= 0 and <= 4294967295/],
      [["--epochs"], /^Option '--epochs <value>' argument missing\. Run with --help/],
      [["--bogus"], /^Unknown option '--bogus'\. Run with --help for the flags\.$/],
    ] as const
  ) {
    await assert.rejects(
      trainMain(["vit", ...flags]),
      (e: Error) => e instanceof UsageError && message.test(e.message),
      flags.join(" "),
    );
  }
  // The exit code, from train and from a task that still calls parseArgs itself.
  for (const [script, args] of [["train.ts", ["vit"]], ["compare.ts", []]] as const) {
    const r = await task(script, [...args, "--epochs", "-1"]);
    assert.equal(r.code, 2, `${script}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /--epochs.*Run with --help for the flags\.|--epochs must be an integer >= 1/,
    );
  }
});

Deno.test("train --minutes shorter than one step: one step, and the run says so", async () => {
  const out = join(tmp, "budget");
  const r = await task("train.ts", [
    "vit",
    ...tinyWith({ epochs: "3" }),
    "--minutes",
    "0.0001",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /past the --minutes budget of 0\.01 s.*the first step .* always runs/);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.steps, 1);
  assert.equal(summary.stoppedBy, "minutes");
});

Deno.test("every task answers --help with its usage, exit 0", async () => {
  for (
    const [script, args] of [
      ["train.ts", ["cnn"]],
      ["eval.ts", []],
      ["export.ts", []],
      ["compare.ts", []],
      ["bench.ts", []],
      ["info.ts", []],
      ["data.ts", []],
      ["site.ts", []],
      ["serve.ts", []],
    ] as const
  ) {
    const r = await task(script, [...args, "--help"]);
    assert.equal(r.code, 0, `${script}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: deno task/, script);
  }
  const train = await task("train.ts", ["vit", "--help"]);
  assert.match(train.stdout, /--minutes M .*\(default 0: none\)/);
});

Deno.test("task_flags: clean up", async () => {
  await Deno.remove(tmp, { recursive: true });
});
