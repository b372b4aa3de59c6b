// The task scripts as a user runs them: bad flags and missing data exit
// non-zero with a message naming the problem.
import assert from "node:assert/strict";
import { task } from "../_tasks.ts";

/** `deno run tasks/SCRIPT args` with the training tasks' permissions. */
const run = (script: string, ...args: string[]) => task(script, args);

Deno.test("train: bad flags exit 2 with a message naming the flag", async () => {
  for (
    const [args, message] of [
      [["vit", "--epochs", "zero"], /--epochs must be an integer >= 1, got "zero"/],
      [
        ["vit", "--preset", "huge"],
        /--preset must be one of tiny, small, base, hour, hour-deep, got "huge"/,
      ],
      [
        ["vit", "--backend", "tpu"],
        /--backend must be one of auto, webgpu, fast, wasm, cpu, got "tpu"/,
      ],
      [["vit", "--bogus"], /Unknown option '--bogus'/],
      [["resnet"], /The first argument must be cnn or vit, got "resnet"/],
    ] as const
  ) {
    const r = await run("train.ts", ...args);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

Deno.test("train: a missing data folder exits non-zero and says how to get the data", async () => {
  const r = await run("train.ts", "cnn", "--data", "/nonexistent/cifar", "--preset", "tiny");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /No CIFAR-10 binary files in "\/nonexistent\/cifar".*deno task data/);
});

Deno.test("eval: a missing checkpoint is named", async () => {
  const r = await run("eval.ts", "--checkpoint", "/nonexistent/ckpt.safetensors");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Cannot read checkpoint "\/nonexistent\/ckpt\.safetensors"/);
});

Deno.test("train --help lists the flags; info prints every preset", async () => {
  const help = await run("train.ts", "cnn", "--help");
  assert.equal(help.code, 0);
  for (
    const flag of [
      "--preset",
      "--epochs",
      "--minutes",
      "--batch-size",
      "--lr",
      "--weight-decay",
      "--seed",
      "--data",
      "--train-size",
      "--test-size",
      "--backend",
      "--out",
      "--resume",
    ]
  ) {
    assert.ok(help.stdout.includes(flag), `--help lacks ${flag}`);
  }
  const info = await run("info.ts", "--json");
  const rows = JSON.parse(info.stdout);
  assert.equal(rows.length, 10); // 4 shared presets x 2 kinds, and hour-noattn, hour-deep
});

Deno.test("eval reproduces the final accuracy of a batch-norm run from its checkpoint", async () => {
  const out = await Deno.makeTempDir();
  const common = ["--data", "sample", "--test-size", "100"];
  const trained = await run(
    "train.ts",
    "cnn",
    "--preset",
    "hour",
    "--epochs",
    "1",
    "--batch-size",
    "64",
    "--train-size",
    "256",
    "--out",
    out,
    ...common,
  );
  assert.equal(trained.code, 0, trained.stderr);
  const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
  assert.equal(summary.tta, "flip-translate");
  const ckpt = `${out}/checkpoint.safetensors`;
  const evalJson = (...flags: string[]) =>
    run("eval.ts", "--checkpoint", ckpt, "--json", ...flags, ...common);
  const evaluated = await evalJson();
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const result = JSON.parse(evaluated.stdout);
  assert.equal(result.tta, "flip-translate");
  assert.equal(result.testAccuracy, summary.testAccuracy);
  const plain = await evalJson("--no-tta");
  assert.equal(JSON.parse(plain.stdout).testAccuracy, summary.testAccuracyPlain);
  const flips = await evalJson("--tta", "flip");
  assert.equal(flips.code, 0, flips.stderr);
  assert.equal(JSON.parse(flips.stdout).tta, "flip");
  const bad = await run("eval.ts", "--checkpoint", ckpt, "--tta", "x");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--tta must be one of none, flip, flip-translate, got "x"/);
  const both = await run("eval.ts", "--checkpoint", ckpt, "--tta", "flip", "--no-tta");
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--no-tta contradicts --tta flip/);
  const exported = await run("export.ts", "--checkpoint", ckpt, "--out", `${out}/w.safetensors`);
  assert.equal(exported.code, 0, exported.stderr);
  const size = (f: string) => Deno.statSync(`${out}/${f}`).size;
  assert.ok(size("w.safetensors") < 0.4 * size("checkpoint.safetensors"), "no optimizer moments");
  const again = await run("eval.ts", "--checkpoint", `${out}/w.safetensors`, "--json", ...common);
  assert.equal(JSON.parse(again.stdout).testAccuracy, summary.testAccuracy);
  await Deno.remove(out, { recursive: true });
});
