// deno task export: never replaces the checkpoint it reads (the run could
// no longer resume), replaces other files only with --force, and ships no
// absolute paths of the machine that trained the model.
import assert from "node:assert/strict";
import { isAbsolute, join, win32 } from "node:path";
import { encodeSafetensors } from "../../src/core/safetensors.ts";
import { readCheckpoint } from "../../src/train/checkpoint.ts";
import { setup } from "../_setup.ts";
import { ROOT, task, tinyCheckpoint } from "../_tasks.ts";

await setup();

Deno.test("export refuses to write over its own checkpoint, however it is spelled", async () => {
  const dir = await Deno.makeTempDir();
  const ckpt = await tinyCheckpoint(dir);
  const before = await Deno.readFile(ckpt);
  await Deno.symlink(ckpt, join(dir, "link.safetensors"));
  await Deno.link(ckpt, join(dir, "hard.safetensors"));
  for (
    const out of [ckpt, join(dir, ".", "checkpoint.safetensors"), join(dir, "link.safetensors")]
  ) {
    for (const force of [[], ["--force"]]) {
      const r = await task("export.ts", ["--checkpoint", ckpt, "--out", out, ...force]);
      assert.equal(r.code, 2, `${out} ${force}: exit ${r.code}, ${r.stderr}`);
      assert.match(r.stderr, /is the checkpoint itself .*unable to resume\. Choose another --out/);
    }
  }
  const hard = await task(
    "export.ts",
    ["--checkpoint", ckpt, "--out", join(dir, "hard.safetensors"), "--force"],
  );
  assert.equal(hard.code, 2, "a hard link is the same file");
  assert.deepEqual(await Deno.readFile(ckpt), before, "the checkpoint is untouched");
  assert.equal((await readCheckpoint(ckpt)).header.run.optStep, 3, "and can still resume");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("export replaces another existing file only with --force", async () => {
  const dir = await Deno.makeTempDir();
  const ckpt = await tinyCheckpoint(dir);
  const out = join(dir, "weights.safetensors");
  await Deno.writeTextFile(out, "precious");
  const refused = await task("export.ts", ["--checkpoint", ckpt, "--out", out]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--out ".*weights\.safetensors" already exists; pass --force/);
  assert.equal(await Deno.readTextFile(out), "precious");
  const forced = await task("export.ts", ["--checkpoint", ckpt, "--out", out, "--force"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((await readCheckpoint(out)).header.run.optStep, null, "weights only");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("export leaves out the absolute paths of the training machine, keeps relative ones", async () => {
  const dir = await Deno.makeTempDir();
  const ckpt = await tinyCheckpoint(dir, { data: "/home/someone/cifar", out: join(dir, "run") });
  const out = join(dir, "w.safetensors");
  const r = await task("export.ts", ["--checkpoint", ckpt, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /absolute paths left out: data, out/);
  const { config } = (await readCheckpoint(out)).header.run;
  assert.equal("data" in config, false);
  assert.equal("out" in config, false);
  assert.equal(config.preset, "tiny");
  const raw = new TextDecoder().decode(await Deno.readFile(out));
  assert.ok(!raw.includes("/home/someone") && !raw.includes(dir), "no machine path anywhere");
  const relative = await tinyCheckpoint(dir, { data: "sample", out: "runs/cnn-1" });
  const again = await task("export.ts", ["--checkpoint", relative, "--out", out, "--force"]);
  assert.equal(again.code, 0, again.stderr);
  const kept = (await readCheckpoint(out)).header.run.config;
  assert.deepEqual([kept.data, kept.out], ["sample", "runs/cnn-1"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the shipped weights hold no absolute paths of the machine that trained them", async () => {
  for await (const entry of Deno.readDir(join(ROOT, "weights"))) {
    if (!entry.name.endsWith(".safetensors")) continue;
    const path = join(ROOT, "weights", entry.name);
    const { config } = (await readCheckpoint(path)).header.run;
    for (const [key, value] of Object.entries(config)) {
      assert.ok(
        typeof value !== "string" || !(isAbsolute(value) || win32.isAbsolute(value)),
        `${path}: config.${key} is the absolute path "${value}"`,
      );
    }
  }
});

Deno.test("eval and export name the file whose header is null, or whose run metadata is damaged", async () => {
  const dir = await Deno.makeTempDir();
  const nullHeader = join(dir, "null.safetensors"), badRun = join(dir, "run.safetensors");
  const header = new TextEncoder().encode("null    ");
  const bytes = new Uint8Array(8 + header.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  await Deno.writeFile(nullHeader, bytes);
  await Deno.writeFile(badRun, encodeSafetensors([], { model: "cnn", preset: "tiny", run: "[]" }));
  for (
    const [file, why] of [
      [nullHeader, "not a valid safetensors file: the header is null"],
      [badRun, `the checkpoint's "run" metadata is [], not an object`],
    ]
  ) {
    for (
      const r of [
        await task("eval.ts", ["--checkpoint", file]),
        await task("export.ts", ["--checkpoint", file, "--out", join(dir, "w.safetensors")]),
      ]
    ) {
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`error: ${file}: ${why}`), r.stderr);
    }
  }
  await Deno.remove(dir, { recursive: true });
});
