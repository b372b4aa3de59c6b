// Checkpoint headers: what training writes reads back, and a damaged or
// foreign header fails with the file's name and what is wrong.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { disposeTree, flatten } from "../../src/core/params.ts";
import { imageBatch, initTrainState, modelSpec, Rng, trainStep } from "../../mod.ts";
import { encodeSafetensors } from "../../src/core/safetensors.ts";
import { initAdamW } from "../../src/train/adamw.ts";
import {
  checkpointModel,
  readCheckpoint,
  type RunState,
  saveCheckpoint,
  saveModel,
} from "../../src/train/checkpoint.ts";
import { defaultConfig } from "../../src/train/config.ts";
import { setup } from "../_setup.ts";

await setup();

const RUN: RunState = {
  config: { ...defaultConfig("cnn"), preset: "tiny", out: "runs/x" },
  epoch: 2,
  step: 14,
  rng: { s: 123, spare: null },
  bestTestAccuracy: 0.25,
  trainSeconds: 3.5,
};

Deno.test("readCheckpoint() reads back what saveCheckpoint() writes, optimizer state included", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "checkpoint.safetensors");
  const params = { w: tf.tensor2d([[1, 2], [3, 4]]), b: tf.tensor1d([5]) };
  const opt = { ...initAdamW(params), step: 14 };
  await saveCheckpoint(path, params, opt, RUN);
  const ckpt = await readCheckpoint(path);
  assert.deepEqual(ckpt.header.run, { ...RUN, optStep: 14 });
  assert.deepEqual([ckpt.header.model, ckpt.header.preset], ["cnn", "tiny"]);
  const read = ckpt.params(params), moments = ckpt.optimizer(params)!;
  assert.deepEqual(Array.from(read.w.dataSync()), [1, 2, 3, 4]);
  assert.equal(moments.step, 14);
  [params, read, opt.m, opt.v, moments.m, moments.v].forEach(disposeTree);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("readCheckpoint() names the file for a null header or damaged run metadata", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "checkpoint.safetensors");
  const header = new TextEncoder().encode("null    ");
  const nullHeader = new Uint8Array(8 + header.length);
  new DataView(nullHeader.buffer).setBigUint64(0, BigInt(header.length), true);
  nullHeader.set(header, 8);
  await Deno.writeFile(path, nullHeader);
  await assert.rejects(readCheckpoint(path), {
    message:
      `${path}: not a valid safetensors file: the header is null, not a JSON object of tensors`,
  });
  const good = JSON.stringify({ ...RUN, optStep: null });
  for (
    const [run, why] of [
      ["{not json", /"run" metadata is not JSON/],
      ["null", /"run" metadata is null, not an object/],
      ["[]", /"run" metadata is \[\], not an object/],
      [JSON.stringify({ ...RUN, config: undefined, optStep: null }), /has no config object/],
      [JSON.stringify({ ...RUN, step: "14", optStep: null }), /has step "14", not a count/],
      [JSON.stringify({ ...RUN, optStep: "x" }), /has optStep "x", neither a count nor null/],
      [good.replace('"rng":{"s":123,"spare":null},', ""), /has no rng state/],
    ] as const
  ) {
    const metadata = { model: "cnn", preset: "tiny", run };
    await Deno.writeFile(path, encodeSafetensors([], metadata));
    await assert.rejects(readCheckpoint(path), (e: Error) => {
      assert.ok(e.message.startsWith(`${path}: the checkpoint's "run" metadata`), e.message);
      assert.match(e.message, why);
      return true;
    });
  }
  await Deno.writeFile(path, encodeSafetensors([], { model: "cnn", preset: "tiny", run: good }));
  assert.equal((await readCheckpoint(path)).header.run.optStep, null);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("saveModel() refuses batch-norm statistics left stale by training steps, or measures them", async () => {
  const model = modelSpec("cnn", "hour");
  const set = { images: new Uint8Array(8 * 3072).fill(90), labels: new Uint8Array(8), size: 8 };
  let state = initTrainState(model, new Rng(0));
  {
    using batch = imageBatch(set, [0, 1, 2, 3, 4, 5, 6, 7], new Rng(1));
    state = (await trainStep(model, state, batch, { lr: 1e-3 })).state;
  }
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "m.safetensors");
    await assert.rejects(
      saveModel(path, model, state.params),
      /batch-norm statistics stale; pass \{ calibrateOn: trainingImages \}/,
    );
    const before = tf.memory().numTensors;
    await saveModel(path, model, state.params, { calibrateOn: set });
    assert.equal(tf.memory().numTensors, before, "the calibrated copy is disposed");
    const { spec, params } = checkpointModel(await readCheckpoint(path));
    assert.equal(`${spec.kind}:${spec.preset}`, "cnn:hour");
    // The saved statistics are those of the weights, not the initial ones.
    const fresh = model.init(new Rng(0));
    const saved = flatten(params).find(([n]) => n.startsWith("stats."))!;
    const initial = flatten(fresh).find(([n]) => n === saved[0])!;
    assert.notDeepEqual(await saved[1].data(), await initial[1].data());
    [params, fresh].forEach(disposeTree);
  } finally {
    disposeTree(state.params);
    await Deno.remove(dir, { recursive: true });
  }
});
