// Evaluation of a checkpoint: it needs only the test batch, and a diverged
// model (NaN weights or logits) is flagged instead of scored silently.
import assert from "node:assert/strict";
import { join } from "node:path";
import { disposeTree, flatten } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { decodeSafetensors, encodeSafetensors } from "../../src/core/safetensors.ts";
import { RECORD_BYTES } from "../../src/data/cifar.ts";
import { CNN_PRESETS, cnnSpec, modelSpec } from "../../src/models/presets.ts";
import { saveModel } from "../../src/train/checkpoint.ts";
import { setup } from "../_setup.ts";
import { task, tinyCheckpoint } from "../_tasks.ts";

await setup();

/** A CIFAR-10 batch file of `n` records, label i % 10, pixels i % 256. */
function batchFile(n: number): Uint8Array {
  const bytes = new Uint8Array(n * RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    bytes[i * RECORD_BYTES] = i % 10;
    bytes.fill(i % 256, i * RECORD_BYTES + 1, (i + 1) * RECORD_BYTES);
  }
  return bytes;
}

Deno.test("eval needs only test_batch.bin; a truncated training batch does not stop it", async () => {
  const dir = await Deno.makeTempDir();
  const ckpt = await tinyCheckpoint(dir);
  const data = join(dir, "cifar");
  await Deno.mkdir(data);
  await Deno.writeFile(join(data, "test_batch.bin"), batchFile(20));
  for (const extra of [null, batchFile(3).subarray(0, 5000)]) {
    if (extra) await Deno.writeFile(join(data, "data_batch_1.bin"), extra);
    const r = await task("eval.ts", ["--checkpoint", ckpt, "--data", data, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.testImages, 20);
    assert.equal(result.nonFiniteImages, 0);
    assert.doesNotMatch(r.stderr, /Warning/);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("eval and train --data naming a file say it is not a folder, a usage error (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  const ckpt = await tinyCheckpoint(dir);
  await Deno.writeFile(join(dir, "test_batch.bin"), batchFile(2));
  const t = await task("train.ts", ["vit", "--data", join(dir, "test_batch.bin"), "--out", dir]);
  assert.equal(t.code, 2, t.stderr);
  assert.match(t.stderr, /"[^"]*test_batch\.bin" is a file, not a folder: --data/);
  const r = await task("eval.ts", ["--checkpoint", ckpt, "--data", join(dir, "test_batch.bin")]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /"[^"]*test_batch\.bin" is a file, not a folder: --data/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("eval warns about a checkpoint of NaN weights, naming the file and tensors", async () => {
  const dir = await Deno.makeTempDir();
  const ckpt = await tinyCheckpoint(dir);
  const file = decodeSafetensors(await Deno.readFile(ckpt), ckpt);
  for (const raw of file.tensors.values()) raw.data.fill(NaN);
  await Deno.writeFile(ckpt, encodeSafetensors(file.tensors, file.metadata));
  await Deno.writeFile(join(dir, "test_batch.bin"), batchFile(10));
  const r = await task("eval.ts", ["--checkpoint", ckpt, "--data", dir, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const template = cnnSpec(CNN_PRESETS.tiny).init(new Rng(0));
  const names = flatten(template).map(([name]) => name);
  disposeTree(template);
  assert.ok(
    r.stderr.includes(
      `Warning: ${ckpt}: ${names.length} tensors hold NaN or infinite weights (${
        names.slice(0, 5).join(", ")
      }, ...); the run diverged`,
    ),
    r.stderr,
  );
  assert.ok(
    r.stderr.includes(`Warning: ${ckpt}: 10 of 10 test images got NaN or infinite logits`),
    r.stderr,
  );
  assert.equal(JSON.parse(r.stdout).nonFiniteImages, 10);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("saveModel() writes a file that deno task eval reads (model and preset in its metadata)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const spec = modelSpec("vit", "tiny");
    const params = spec.init(new Rng(3));
    const path = join(dir, "mine.safetensors");
    await saveModel(path, spec, params);
    disposeTree(params);
    const r = await task("eval.ts", ["--checkpoint", path, "--data", "sample", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(`${result.model}:${result.preset}`, "vit:tiny");
    assert.equal(result.testImages, 200);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
