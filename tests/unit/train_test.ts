import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { disposeTree, flatten } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { brand } from "../../src/core/tensor.ts";
import { fillBatch } from "../../src/data/batches.ts";
import { loadCifar10 } from "../../src/data/cifar.ts";
import { modelSpec } from "../../src/models/presets.ts";
import { ADAMW_DEFAULTS, initAdamW } from "../../src/train/adamw.ts";
import { readCheckpoint } from "../../src/train/checkpoint.ts";
import { dataDir } from "../../src/train/config.ts";
import { NonFiniteLossError, resume, train } from "../../src/train/loop.ts";
import { stepParams } from "../../src/train/step.ts";
import { setup, tinyRunConfig } from "../_setup.ts";

await setup();

async function fixedBatch(n: number) {
  const data = await loadCifar10(dataDir("sample"), { trainSize: n });
  const images = new Float32Array(n * 3072), labels = new Int32Array(n);
  fillBatch(data.train, Array.from({ length: n }, (_, i) => i), images, labels, null);
  return {
    images: brand(tf.tensor4d(images, [n, 32, 32, 3]), ["batch", "height", "width", "channels"]),
    labels: tf.tensor1d(labels, "int32"),
  };
}

Deno.test("stepParams(): the loss on a fixed batch falls, and no tensor leaks once warm", async () => {
  for (const kind of ["vit", "cnn"] as const) {
    const spec = modelSpec(kind, "tiny");
    const rng = new Rng(0);
    let params = spec.init(rng);
    let state = initAdamW(params);
    const batch = await fixedBatch(32);
    const losses: number[] = [], counts: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = await stepParams(spec.apply, params, state, batch, {
        lr: 3e-3,
        labelSmoothing: 0,
        optimizer: ADAMW_DEFAULTS,
      }, rng);
      params = r.params;
      state = r.state;
      losses.push(r.loss);
      counts.push(tf.memory().numTensors);
    }
    assert.ok(losses.at(-1)! < 0.8 * losses[0], `${kind}: loss ${losses[0]} -> ${losses.at(-1)}`);
    assert.ok(counts.slice(1).every((c) => c === counts[1]), `${kind}: tensor counts ${counts}`);
    tf.dispose([batch.images, batch.labels]);
    [params, state.m, state.v].forEach(disposeTree);
  }
});

const config = tinyRunConfig;

Deno.test("train(): epochs on the sample lower the loss and write config, metrics, checkpoint, summary", async () => {
  const out = await Deno.makeTempDir();
  const summary = await train(
    config(out, { epochs: 3, trainSize: undefined, testSize: undefined }),
    { quiet: true },
  );
  const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  assert.deepEqual(files, [
    "checkpoint.safetensors",
    "config.json",
    "metrics.jsonl",
    "summary.json",
  ]);
  const metrics = Deno.readTextFileSync(join(out, "metrics.jsonl")).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.equal(metrics.length, 3);
  assert.ok(metrics[2].trainLoss < metrics[0].trainLoss, `loss ${metrics.map((m) => m.trainLoss)}`);
  const onDisk = JSON.parse(Deno.readTextFileSync(join(out, "summary.json")));
  for (
    const k of [
      "model",
      "preset",
      "params",
      "epochs",
      "trainSeconds",
      "imagesPerSecond",
      "testAccuracy",
      "bestTestAccuracy",
      "backend",
    ]
  ) {
    assert.ok(k in onDisk, `summary.json lacks ${k}`);
  }
  assert.equal(onDisk.testAccuracy, summary.testAccuracy);
  assert.equal(summary.params, modelSpec("vit", "tiny").paramCount);
  await Deno.remove(out, { recursive: true });
});

Deno.test("train(): a run interrupted and resumed ends with the same parameters", async () => {
  const straight = await Deno.makeTempDir(), resumed = await Deno.makeTempDir();
  await train(config(straight), { quiet: true });
  await train(config(resumed), { quiet: true, stopAfterEpoch: 1 });
  assert.equal((await readCheckpoint(join(resumed, "checkpoint.safetensors"))).header.run.epoch, 1);
  await resume(resumed, {}, { quiet: true });
  const spec = modelSpec("vit", "tiny");
  const template = spec.init(new Rng(0));
  const a = (await readCheckpoint(join(straight, "checkpoint.safetensors"))).params(template);
  const b = (await readCheckpoint(join(resumed, "checkpoint.safetensors"))).params(template);
  for (const [[name, x], [, y]] of flatten(a).map((p, i) => [p, flatten(b)[i]])) {
    assert.deepEqual(x.dataSync(), y.dataSync(), name);
  }
  assert.equal(Deno.readTextFileSync(join(resumed, "metrics.jsonl")).trim().split("\n").length, 2);
  [template, a, b].forEach(disposeTree);
  for (const d of [straight, resumed]) await Deno.remove(d, { recursive: true });
});

Deno.test("checkpoint: parameters and optimizer state round-trip; a wrong model is named", async () => {
  const out = await Deno.makeTempDir();
  await train(config(out, { epochs: 1 }), { quiet: true });
  const ckpt = await readCheckpoint(join(out, "checkpoint.safetensors"));
  assert.equal(ckpt.header.model, "vit");
  assert.equal(ckpt.header.preset, "tiny");
  const template = modelSpec("vit", "tiny").init(new Rng(0));
  const opt = ckpt.optimizer(template)!;
  assert.equal(opt.step, 8);
  const cnnTemplate = modelSpec("cnn", "tiny").init(new Rng(0));
  assert.throws(
    () => ckpt.params(cnnTemplate),
    /missing tensors .*is it a checkpoint of this model and preset/,
  );
  [template, opt.m, opt.v, cnnTemplate].forEach(disposeTree);
  await Deno.remove(out, { recursive: true });
});

Deno.test("train(): a non-finite loss stops training with a message and writes no checkpoint", async () => {
  const explode = await Deno.makeTempDir();
  await assert.rejects(
    train(config(explode, { lr: 1e30, clipNorm: 0, warmupEpochs: 0, labelSmoothing: 0 }), {
      quiet: true,
    }),
    (e: Error) =>
      e instanceof NonFiniteLossError &&
      /The loss became (NaN|Infinity|-Infinity) at epoch 1.*No checkpoint was written.*--lr/.test(
        e.message,
      ),
  );
  // Checkpoints are written only after an epoch that finished with finite losses.
  assert.deepEqual([...Deno.readDirSync(explode)].map((e) => e.name), ["config.json"]);
  await Deno.remove(explode, { recursive: true });
});

Deno.test("stepParams() with microBatches takes the whole batch's step in parts, without leaks", async () => {
  const spec = modelSpec("vit", "tiny"), batch = await fixedBatch(8);
  const step = async (microBatches: number) => {
    const params = spec.init(new Rng(0));
    const r = await stepParams(spec.apply, params, initAdamW(params), batch, {
      lr: 1e-3,
      labelSmoothing: 0.1,
      optimizer: ADAMW_DEFAULTS,
      microBatches,
    }, new Rng(1));
    const values = flatten(r.params).map(([name, t]) => [name, t.dataSync()] as const);
    disposeTree(r.params);
    disposeTree(r.state.m);
    disposeTree(r.state.v);
    return { ...r, values };
  };
  const whole = await step(1);
  const before = tf.memory().numTensors;
  const halves = await step(2), quarters = await step(4);
  assert.equal(tf.memory().numTensors, before, "no tensor left behind by the parts");
  for (const parts of [halves, quarters]) {
    // The loss and gradient norm are means over the same 8 images, summed in
    // another order: float32 rounding only.
    assert.ok(
      Math.abs(parts.loss - whole.loss) < 1e-5 * whole.loss,
      `${parts.loss} vs ${whole.loss}`,
    );
    assert.ok(Math.abs(parts.gradNorm - whole.gradNorm) < 1e-5 * whole.gradNorm);
    assert.equal(parts.correct, whole.correct);
    // AdamW's first step moves each weight by about lr * sign(gradient); a
    // gradient within rounding of 0 may move differently, so the bound is
    // on the mean difference, far below lr = 1e-3.
    let sum = 0, n = 0;
    parts.values.forEach(([name, v], i) => {
      assert.equal(name, whole.values[i][0]);
      v.forEach((x, j) => (sum += Math.abs(x - whole.values[i][1][j]), n++));
    });
    assert.ok(sum / n < 1e-6, `mean |difference| ${sum / n}`);
  }
  await assert.rejects(step(3), /microBatches must be a whole number that divides the batch of 8/);
  tf.dispose([batch.images, batch.labels]);
});
