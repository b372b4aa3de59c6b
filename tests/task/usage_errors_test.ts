// Bad input gets one clear line that says what was wrong (issue #29, row
// 10): repeated flags, stray commas, seeds outside the generator's range, a
// model given another kind's config, absurd safetensors headers, and a
// diverged checkpoint exported without a word.
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeSafetensors, encodeSafetensors } from "../../src/core/safetensors.ts";
import { task, tinyCheckpoint } from "../_tasks.ts";
import { setup } from "../_setup.ts";

await setup();

Deno.test("a repeated flag is a usage error, not the last value silently", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await task("train.ts", ["vit", "--epochs", "1", "--epochs", "2", "--out", dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--epochs is given more than once; give it once/);
    const c = await task("compare.ts", ["--models", "cnn:tiny,vit:tiny,", "--out", dir]);
    assert.equal(c.code, 2, c.stderr);
    assert.match(c.stderr, /has an empty entry/);
    const e = await task("eval.ts", ["--checkpoint", "a", "--checkpoint", "b"]);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /--checkpoint is given more than once/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --help documents --checkpoint-minutes 0", async () => {
  const r = await task("train.ts", ["cnn", "--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /--checkpoint-minutes M[\s\S]*0: after every step/);
});

Deno.test("export of a checkpoint with NaN weights warns as eval does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ckpt = await tinyCheckpoint(dir);
    const file = decodeSafetensors(await Deno.readFile(ckpt), ckpt);
    for (const raw of file.tensors.values()) raw.data.fill(NaN);
    await Deno.writeFile(ckpt, encodeSafetensors(file.tensors, file.metadata));
    const r = await task("export.ts", ["--checkpoint", ckpt, "--out", join(dir, "w.safetensors")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Warning: .*tensors hold NaN or infinite weights .*the run diverged/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
