import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { type BenchRecord, goals } from "../../tasks/bench.ts";
import { openBlas } from "../../src/backend/cpu/blas.ts";
import { jsSgemm } from "../../src/backend/cpu/js_sgemm.ts";
import { timeKernels } from "../../src/bench/kernel_timer.ts";
import { CNN_PRESETS, cnnSpec, modelSpec } from "../../src/models/presets.ts";
import { measure, sgemmProbe, trainingBatchSize } from "../../src/bench/measure.ts";
import { formatProfile, profileSteps } from "../../src/bench/profile.ts";
import { setup } from "../_setup.ts";

await setup();

Deno.test("goals() relates the fast path to stock cpu and to the sgemm probe", () => {
  const records: BenchRecord[] = [
    { path: "sgemm", gflops: 100, library: "x" },
    {
      model: "vit",
      preset: "small",
      path: "fast",
      mode: "train",
      imagesPerSecond: 200,
      gflops: 30,
      batchSize: 128,
      threads: 2,
      steps: 8,
      stepRange: [190, 210],
    },
    {
      model: "vit",
      preset: "small",
      path: "cpu",
      mode: "train",
      imagesPerSecond: 4,
      gflops: 0.6,
      batchSize: 8,
      threads: 1,
      steps: 2,
      stepRange: [3.9, 4.1],
    },
  ];
  assert.deepEqual(goals(records), [
    "vit small, fast path training: 50.0x stock cpu (goal 20x) 30.0% of the sgemm probe (goal 40%)",
  ]);
});

Deno.test("the sgemm probe and the portable sgemm agree with a hand-computed product", () => {
  // [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]]; with transposes too.
  const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([5, 6, 7, 8]);
  for (const sgemm of [jsSgemm, openBlas()?.sgemm].filter((f) => f !== undefined)) {
    const c = new Float32Array(4);
    sgemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2);
    assert.deepEqual([...c], [19, 22, 43, 50]);
    sgemm(true, true, 2, 2, 2, 1, a, 2, b, 2, 1, c, 2); // aᵀbᵀ = (ba)ᵀ = [[23,31],[34,46]], plus c
    assert.deepEqual([...c], [19 + 23, 22 + 31, 43 + 34, 50 + 46]);
  }
  assert.ok(sgemmProbe(jsSgemm, [[16, 16, 16]]) > 0);
});

Deno.test("measure() trains a model with buffers (batch-norm statistics), on one thread or two", async () => {
  // The batch-norm CNN keeps untrained buffers under params.stats; the
  // optimizer state must cover only the trainable leaves.
  const spec = cnnSpec({ ...CNN_PRESETS.tiny, norm: "batch" }, "tiny-bn");
  const before = tf.memory().numTensors;
  for (const [mode, threads] of [["train", 1], ["train", 2], ["infer", 2]] as const) {
    const r = await measure(spec, mode, {
      batchSize: 4,
      steps: 2,
      maxSeconds: 5,
      warmup: 1,
      threads,
    });
    assert.equal(r.steps, 2);
    assert.ok(r.imagesPerSecond > 0 && r.gflops > 0);
    assert.ok(r.stepRange[0] <= r.imagesPerSecond && r.imagesPerSecond <= r.stepRange[1]);
  }
  assert.equal(tf.memory().numTensors, before, "measure() leaks tensors");
});

Deno.test("trainingBatchSize() is the batch the preset trains with", () => {
  assert.equal(trainingBatchSize(modelSpec("cnn", "hour")), 256);
  assert.equal(trainingBatchSize(modelSpec("vit", "hour")), 128);
  assert.equal(trainingBatchSize(modelSpec("vit", "hour-deep")), 256);
  assert.equal(trainingBatchSize(modelSpec("vit", "small")), 128);
});

Deno.test("timeKernels() counts each kernel call once and restores the kernels", () => {
  const x = tf.ones([4, 4]);
  const timer = timeKernels();
  tf.tidy(() => tf.add(tf.matMul(x, x), tf.matMul(x, x, false, true)));
  const stats = timer.stop();
  const calls = Object.fromEntries(stats.map((s) => [s.name, s.count]));
  assert.deepEqual(calls, { BatchMatMul: 2, Add: 1 });
  assert.ok(stats.every((s) => s.ms >= 0));
  tf.tidy(() => tf.matMul(x, x)); // after stop(): not counted, still works
  assert.deepEqual(timer.read().map((s) => s.count), stats.map((s) => s.count));
  const byShape = timeKernels({ byShape: true });
  tf.tidy(() => tf.matMul(x, tf.ones([4, 2])));
  const named = new Map(byShape.stop().map((s) => [s.name, s.count]));
  assert.equal(named.get("BatchMatMul [4,4] [4,2]"), 1, [...named.keys()].join(", "));
  x.dispose();
});

Deno.test("profileSteps() splits a step into kernels and the time outside them", async () => {
  const p = await profileSteps(modelSpec("vit", "tiny"), "test", {
    batchSize: 4,
    steps: 1,
    warmup: 1,
  });
  assert.ok(p.kernelCalls > 100, `${p.kernelCalls} kernel calls`);
  assert.ok(Math.abs(p.kernelMs + p.outsideMs - p.stepMs) < 1e-6);
  assert.ok(p.kernelMs > 0 && p.kernelMs <= p.stepMs);
  assert.ok(p.kernels.some((k) => k.name === "BatchMatMul"));
  assert.deepEqual(p.kernels.map((k) => k.ms), p.kernels.map((k) => k.ms).sort((a, b) => b - a));
  const text = formatProfile(p, 3);
  assert.match(text, /^vit tiny, batch 4/);
  assert.match(text, /outside kernels/);
  assert.equal(text.split("\n").length, 2 + 3 + 3); // title, header, top 3, rest, all, outside
});
