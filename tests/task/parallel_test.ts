// Data-parallel training threads: a step with its micro-batches shared with a
// gradient worker is the same step as computing them one after the other.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { currentBackend } from "../../src/backend/select.ts";
import { leaves, splitBuffers } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { brand } from "../../src/core/tensor.ts";
import { modelSpec, VIT_PRESETS, vitSpec } from "../../src/models/presets.ts";
import { ADAMW_DEFAULTS, initAdamW } from "../../src/train/adamw.ts";
import {
  defaultConfig,
  isCpuBackend,
  microBatchesFor,
  resolveThreads,
} from "../../src/train/config.ts";
import { GradientWorkers } from "../../src/train/gradient_workers.ts";
import { type StepConfig, stepParams } from "../../src/train/step.ts";
import { maxAbsDiff, seeded, setup } from "../_setup.ts";

await setup();
const backend = currentBackend()!.name;
// Gradient workers are for the CPU backends; under TEST_BACKEND=webgpu these tests do not apply.
const cpu = isCpuBackend(backend);

/** Parameters after `steps` steps of `spec` on fixed batches of 8, with or without workers. */
async function trainFor(
  spec: ReturnType<typeof modelSpec>,
  steps: number,
  workers?: GradientWorkers,
): Promise<Float32Array> {
  const rng = new Rng(1);
  let params = spec.init(new Rng(0));
  let state = initAdamW(splitBuffers(params).trainable);
  for (let i = 0; i < steps; i++) {
    const batch = {
      images: brand(seeded([8, 32, 32, 3], 10 + i), ["batch", "height", "width", "channels"]),
      labels: tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7].map((j) => (j + i) % 10), "int32"),
    };
    const config: StepConfig = {
      lr: 1e-3,
      labelSmoothing: 0.1,
      optimizer: ADAMW_DEFAULTS,
      microBatches: 2,
      workers,
    };
    const r = await stepParams(spec.apply, params, state, batch, config, rng);
    tf.dispose([batch.images, batch.labels]);
    params = r.params;
    state = r.state;
  }
  const flat = Float32Array.from(leaves(params).flatMap((t) => Array.from(t.dataSync())));
  tf.dispose([...leaves(params), ...leaves(state.m), ...leaves(state.v)]);
  return flat;
}

Deno.test({
  name:
    "gradient workers: a step shared with a worker equals its micro-batches in turn, and leaks nothing",
  ignore: !cpu,
  fn: async () => {
    for (const kind of ["vit", "cnn"] as const) {
      const spec = modelSpec(kind, "tiny");
      // Workers first: they set native BLAS to one thread, whose rounding both runs then share.
      const workers = await GradientWorkers.start(spec, 1, backend);
      try {
        const sequential = await trainFor(spec, 2);
        await trainFor(spec, 1, workers); // warm: the first step allocates what later ones reuse
        const before = tf.memory().numTensors;
        const parallel = await trainFor(spec, 2, workers);
        assert.equal(tf.memory().numTensors, before, `${kind}: tensors leaked`);
        // Without dropout the micro-batches' gradients do not depend on the thread.
        const diff = maxAbsDiff(parallel, sequential);
        assert.ok(diff <= 1e-6, `${kind}: parameters differ by ${diff}`);
      } finally {
        await workers.close();
      }
    }
  },
});

Deno.test({
  name: "gradient workers: with dropout, each micro-batch's seed makes the step reproducible",
  ignore: !cpu,
  fn: async () => {
    const spec = vitSpec({ ...VIT_PRESETS.tiny, dropout: 0.2 });
    const workers = await GradientWorkers.start(spec, 1, backend);
    try {
      const a = await trainFor(spec, 2, workers), b = await trainFor(spec, 2, workers);
      assert.equal(maxAbsDiff(a, b), 0);
      assert.ok(
        maxAbsDiff(a, await trainFor(spec, 2)) > 0,
        "dropout seeds per micro-batch differ from one stream",
      );
    } finally {
      await workers.close();
    }
  },
});

Deno.test({
  name:
    "gradient workers: a failure in the worker reaches the step with its message; bad counts are refused",
  ignore: !cpu,
  fn: async () => {
    const workers = await GradientWorkers.start(modelSpec("vit", "tiny"), 1, backend);
    try {
      // Another model's parameters: the worker cannot rebuild them.
      const wrong = modelSpec("cnn", "tiny");
      await assert.rejects(trainFor(wrong, 1, workers), /gradient worker: .*parameter arrays/);
    } finally {
      await workers.close();
    }
    await assert.rejects(
      GradientWorkers.start(modelSpec("vit", "tiny"), 1, "webgpu"),
      /CPU backend/,
    );
    await assert.rejects(
      GradientWorkers.start(modelSpec("vit", "tiny"), 0, backend),
      /whole number/,
    );
  },
});

Deno.test("threads: auto takes 2 where the batch splits on a multi-core CPU backend; micro-batches round up", () => {
  const c = { ...defaultConfig("vit"), batchSize: 128, threads: "auto" as const };
  // Machines of 1, 2 and 16 cores, whatever this one has.
  assert.equal(resolveThreads(c, "fast", 1), 1, "one core: one thread");
  assert.equal(resolveThreads(c, "fast", 2), 2);
  assert.equal(resolveThreads(c, "fast", 16), 2);
  assert.equal(resolveThreads(c, "fast"), resolveThreads(c, "fast", navigator.hardwareConcurrency));
  assert.equal(resolveThreads(c, "webgpu"), 1, "a GPU keeps whole-batch steps");
  assert.equal(
    resolveThreads({ ...c, batchSize: 99 }, "fast", 2),
    1,
    "an odd batch does not split",
  );
  assert.equal(
    resolveThreads({ ...c, threads: undefined }, "fast"),
    1,
    "runs saved before threads",
  );
  assert.equal(resolveThreads({ ...c, threads: 3 }, "webgpu"), 3, "a saved number stays");
  assert.equal(microBatchesFor(c, 2), 2);
  assert.equal(microBatchesFor({ ...c, microBatches: 2 }, 2), 2);
  assert.equal(microBatchesFor({ ...c, microBatches: 3 }, 2), 6);
  assert.equal(microBatchesFor({ ...c, microBatches: 3 }, 1), 3);
});
