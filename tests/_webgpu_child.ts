// The WebGPU tests' worker: tfjs has one backend per process, so
// webgpu_test.ts runs each computation here twice, with --backend webgpu and
// --backend cpu, and compares the JSON this prints on stdout.
//
//   parity BACKEND MODEL STEPS BATCH  MODEL: vit | cnn | cnn-bn (tiny, batch norm)
//   adamw BACKEND                     adamwStep (webgpu) or adamwStepOnHost (cpu), 3 steps;
//                                     and an addN over 40 tensors
//   break KERNEL FILE TRAIN-ARGS...   `deno task train`, KERNEL broken on webgpu once FILE exists
//   upload BACKEND                    host tensors of each dtype read by a kernel, twice (the
//                                     second time into pooled buffers)
import * as tf from "@tensorflow/tfjs";
import { type BackendName, selectBackend } from "../src/backend/select.ts";
import {
  countsBetween,
  type WebGPUCounts,
  webgpuCounts,
} from "../src/backend/webgpu/webgpu_counters.ts";
import { runMain } from "../src/cli/args.ts";
import {
  flatten,
  leaves,
  type ParamTree,
  splitBuffers,
  unflatten,
  withBuffers,
} from "../src/core/params.ts";
import { Rng } from "../src/core/rng.ts";
import { brand } from "../src/core/tensor.ts";
import { fillBatch } from "../src/data/batches.ts";
import { type ImageSet, loadCifar10 } from "../src/data/cifar.ts";
import { CNN_PRESETS, cnnSpec, modelSpec } from "../src/models/presets.ts";
import { ADAMW_DEFAULTS, type AdamWState, adamwStep, initAdamW } from "../src/train/adamw.ts";
import { adamwStepOnHost } from "../src/train/adamw_host.ts";
import { dataDir } from "../src/train/config.ts";
import { calibrate } from "../src/train/evaluate.ts";
import { crossEntropy } from "../src/train/loss.ts";
import { predict, stepParams } from "../src/train/step.ts";
import { main as trainMain } from "../tasks/train.ts";

/** Every leaf of a tree as a plain array, by dotted name. */
async function arrays(tree: ParamTree): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, t] of flatten(tree)) out[name] = Array.from(await t.data());
  return out;
}

function batchOf(set: ImageSet, from: number, n: number) {
  const images = new Float32Array(n * 3072), labels = new Int32Array(n);
  fillBatch(set, Array.from({ length: n }, (_, i) => from + i), images, labels, null);
  return {
    images: brand(tf.tensor4d(images, [n, 32, 32, 3]), ["batch", "height", "width", "channels"]),
    labels: tf.tensor1d(labels, "int32"),
  };
}

/** Gradients at `params` on `batch`, by dotted name (what the first step sees). */
async function gradients(
  apply: (p: ParamTree, x: ReturnType<typeof batchOf>["images"], r: Rng) => tf.Tensor,
  params: ParamTree,
  batch: ReturnType<typeof batchOf>,
) {
  const { trainable, buffers } = splitBuffers(params);
  const { value, grads } = tf.valueAndGrads((...ws: tf.Tensor[]) =>
    crossEntropy(
      apply(withBuffers(unflatten(trainable, ws), buffers), batch.images, new Rng(1)) as never,
      batch.labels,
      0.1,
    )
  )(leaves(trainable));
  const named = await arrays(unflatten(trainable, grads));
  tf.dispose([value, ...grads]);
  return named;
}

async function parity(model: string, steps: number, batchSize: number) {
  const spec = model === "cnn-bn"
    ? cnnSpec({ ...CNN_PRESETS.tiny, norm: "batch" }, "tiny-bn")
    : modelSpec(model as "vit" | "cnn", "tiny");
  const data = await loadCifar10(dataDir("sample"), {
    trainSize: steps * batchSize,
    testSize: batchSize,
  });
  let params = spec.init(new Rng(7));
  let state: AdamWState<ParamTree> = initAdamW(splitBuffers(params).trainable);
  const first = batchOf(data.train, 0, batchSize);
  const grads = await gradients(spec.apply, params, first);
  tf.dispose([first.images, first.labels]);
  const records: { loss: number; gradNorm: number; correct: number; counts?: WebGPUCounts }[] = [];
  let params1: Record<string, number[]> = {};
  for (let s = 0; s < steps; s++) {
    const batch = batchOf(data.train, s * batchSize, batchSize); // a new upload, as in training
    const before = webgpuCounts();
    const r = await stepParams(spec.apply, params, state, batch, {
      lr: 1e-3,
      labelSmoothing: 0.1,
      optimizer: ADAMW_DEFAULTS,
    }, new Rng(1));
    const counts = countsBetween(before, webgpuCounts());
    tf.dispose([batch.images, batch.labels]);
    params = r.params;
    state = r.state;
    records.push({ loss: r.loss, gradNorm: r.gradNorm, correct: r.correct, counts });
    if (s === 0) params1 = await arrays(params);
  }
  // Evaluation after training: batch-norm statistics recomputed ("precise
  // BN", a stack of per-batch moments), then logits on test images.
  params = calibrate(spec, params, data.train, { images: 2 * batchSize, batchSize });
  const test = batchOf(data.test, 0, batchSize);
  const { logits } = await predict(spec.apply, params, test.images);
  return { grads, params1, steps: records, logits: Array.from(logits) };
}

async function adamw(backend: string) {
  // Seeded inputs that both processes make alike (tf.random differs by backend).
  const values = (n: number, seed: number, scale = 1) => {
    let s = seed >>> 0;
    return Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return ((s / 4294967296) * 2 - 1) * scale;
    });
  };
  const tree = (seed: number, scale = 1) => ({
    w: tf.tensor(values(12, seed, scale), [4, 3]),
    b: tf.tensor(values(3, seed + 1, scale), [3]),
    blocks: [{ k: tf.tensor(values(8, seed + 2, scale), [2, 2, 2]) }],
  });
  const update = backend === "webgpu" ? adamwStep : adamwStepOnHost;
  const config = { ...ADAMW_DEFAULTS, clipNorm: 0.5, weightDecay: 0.1 };
  let params: ParamTree = tree(1), state: AdamWState<ParamTree> = initAdamW(params);
  const gradNorms: number[] = [];
  for (let step = 0; step < 3; step++) {
    const r: ReturnType<typeof adamwStep<ParamTree>> = update(
      params,
      tree(10 + 10 * step, 3),
      state,
      1e-2,
      config,
    );
    params = r.params;
    state = r.state;
    gradNorms.push((await r.gradNorm.data())[0]);
  }
  // More inputs than any device has storage buffers per stage (#12's AddN).
  const sum = tf.addN(Array.from({ length: 40 }, (_, i) => tf.tensor(values(5, 100 + i))));
  return {
    params: await arrays(params),
    m: await arrays(state.m),
    v: await arrays(state.v),
    gradNorms,
    addN: Array.from(await sum.data()),
  };
}

/**
 * A copy whose workgroup is twice what the device allows: invalid on every
 * adapter, whatever its limits (a program over the storage-buffer limit, as
 * #12's AddN was, needs 500,000 bindings on NVIDIA's Vulkan driver).
 */
class OversizedWorkgroupProgram {
  variableNames = ["x"];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number] = [1, 1, 1];
  workgroupSize: [number, number, number];
  size = true;
  shaderKey: string;
  constructor(invocations: number, public outputShape: number[]) {
    this.workgroupSize = [2 * invocations, 1, 1];
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.shaderKey = `oversizedWorkgroup${invocations}`;
  }
  getUserCode(): string {
    return `fn main(index : i32) { if (index < uniforms.size) { setOutputAtIndex(index, x[index]); } }`;
  }
}

/**
 * Make webgpu's `kernel` also run a program over the device's limits (as
 * AddN did, #12), from the moment `armFile` exists.
 */
function breakKernel(kernel: string, armFile: string) {
  const stock = tf.getKernel(kernel, "webgpu")!;
  let armed = false;
  tf.unregisterKernel(kernel, "webgpu");
  tf.registerKernel({
    ...stock,
    kernelFunc: (args) => {
      const out = stock.kernelFunc(args) as tf.TensorInfo;
      try {
        armed ||= Deno.statSync(armFile).isFile;
      } catch { /* not yet */ }
      if (!armed) return out;
      const backend = args.backend as unknown as {
        device: GPUDevice;
        runWebGPUProgram(p: unknown, inputs: tf.TensorInfo[], dtype: string): tf.TensorInfo;
        disposeData(id: unknown): void;
      };
      const n = backend.device.limits.maxComputeInvocationsPerWorkgroup;
      const extra = backend.runWebGPUProgram(
        new OversizedWorkgroupProgram(n, out.shape),
        [out],
        out.dtype,
      );
      backend.disposeData(extra.dataId);
      return out;
    },
  });
}

/** What kernels see of uploaded host tensors: float32, int32, bool and a 3 MB batch. */
async function uploads() {
  const rounds = [];
  for (let round = 0; round < 2; round++) {
    const n = 256 * 3072; // a training batch of CIFAR images
    const big = tf.tensor1d(
      Float32Array.from({ length: n }, (_, k) => ((k * 7 + round) % 1001) - 500),
    );
    const f = tf.tensor1d([1.5, -2, 3.25 + round]);
    const i = tf.tensor1d([2 ** 30, -(2 ** 31), 9 + round], "int32");
    const b = tf.tensor1d([true, false, round === 0], "bool");
    // An int32 tensor whose host values a backend kept as a Float32Array:
    // tf.tensor converts, backend.write does not.
    const loose = tf.engine().makeTensorFromDataId(
      tf.backend().write(Float32Array.of(7, -3, 5 + round), [3], "int32"),
      [3],
      "int32",
    );
    const outs = [
      tf.mul(f, 2),
      tf.reverse(i), // a copy: tfjs's webgpu adds int32 in float32
      tf.logicalNot(b),
      tf.reverse(loose),
      tf.slice(tf.mul(big, 1), [0], [5]),
      tf.slice(tf.mul(big, 1), [n - 5], [5]),
    ];
    rounds.push(await Promise.all(outs.map(async (t) => Array.from(await t.data()))));
    tf.dispose([big, f, i, b, loose, ...outs]);
  }
  return rounds;
}

const [mode, ...rest] = Deno.args;
if (mode === "break") {
  await selectBackend("webgpu", true);
  breakKernel(rest[0], rest[1]);
  await runMain(() => trainMain(rest.slice(2)));
} else {
  await selectBackend(rest[0] as BackendName, true);
  const result = mode === "parity"
    ? await parity(rest[1], Number(rest[2]), Number(rest[3]))
    : mode === "upload"
    ? await uploads()
    : await adamw(rest[0]);
  console.log(JSON.stringify(result));
}
