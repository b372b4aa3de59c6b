// WebGPU against the stock cpu backend, on whatever adapter navigator.gpu
// offers (in CI: lavapipe, Mesa's software Vulkan rasteriser). tfjs has one
// backend per process, so every computation runs in a child process
// (_webgpu_child.ts), once per backend, and the JSON they print is compared.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  describeAdapter,
  graphicsApi,
  isSoftwareAdapter,
  requestAdapter,
} from "../../src/backend/webgpu/webgpu.ts";
import { readCheckpoint } from "../../src/train/checkpoint.ts";
import { task } from "../_tasks.ts";

const CHILD = new URL("../_webgpu_child.ts", import.meta.url).pathname;
const TRAIN = new URL("../../tasks/train.ts", import.meta.url).pathname;
const EXPORT = new URL("../../tasks/export.ts", import.meta.url).pathname;
const PROFILE = new URL("../../tasks/profile.ts", import.meta.url).pathname;

// Mesa's GL rasteriser compiles a training step's ~100 shaders in minutes;
// lavapipe (mesa-vulkan-drivers, which CI installs) in seconds.
const adapter = await requestAdapter();
const skip = adapter === null
  ? "no WebGPU adapter"
  : isSoftwareAdapter(adapter) && graphicsApi(adapter) === "GL"
  ? `the WebGPU adapter is Mesa's software GL (${
    describeAdapter(adapter)
  }); install mesa-vulkan-drivers`
  : null;
if (skip) console.log(`webgpu_test.ts: skipped: ${skip}`);
const ignore = skip !== null;

/** A script run as a user runs it, with XDG_RUNTIME_DIR unset (as on a bare CI machine: Mesa complains then). */
function deno(
  [script, ...args]: string[],
  env: Record<string, string> = {},
  permissions?: string[],
) {
  return task(script, args, { env, permissions, unsetEnv: ["XDG_RUNTIME_DIR"] });
}

async function child(args: string[], env: Record<string, string> = {}) {
  const out = await deno([CHILD, ...args], env);
  if (out.code !== 0) throw new Error(`_webgpu_child.ts ${args.join(" ")} failed:\n${out.stderr}`);
  return JSON.parse(out.stdout);
}

interface Counts {
  dispatches: number;
  readbacks: number;
  uploads: number;
  compiles: number;
}
interface Parity {
  grads: Record<string, number[]>;
  params1: Record<string, number[]>;
  steps: { loss: number; gradNorm: number; correct: number; counts: Counts }[];
  logits: number[];
}

const LR = 1e-3, EPS = 1e-8; // what _webgpu_child.ts trains with (ADAMW_DEFAULTS' eps)

const close = (a: number, b: number, rel: number) =>
  Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

/**
 * One model's training on webgpu against cpu: same gradients, same first
 * step, same losses over the steps, same evaluation logits.
 */
async function assertParity(model: string, steps: number, env: Record<string, string> = {}) {
  const [gpu, cpu]: Parity[] = await Promise.all([
    child(["parity", "webgpu", model, String(steps), "4"], env),
    child(["parity", "cpu", model, String(steps), "4"]),
  ]);
  // Gradients: float32 sums over up to ~10^4 terms in other orders (tiled
  // matmuls and tree reductions on the GPU, loops on the CPU) differ by a few
  // ulps of the largest gradient (we see 1e-7 at a scale of 0.5); a dropped
  // or wrong kernel is off by the gradient's own size. 2e-5 of the scale.
  const scale = Math.max(...Object.values(cpu.grads).flatMap((g) => g.map(Math.abs)));
  let dg = 0;
  for (const [name, g] of Object.entries(cpu.grads)) {
    gpu.grads[name].forEach((v, i) => (dg = Math.max(dg, Math.abs(v - g[i]))));
  }
  assert.ok(dg <= 2e-5 * scale, `${model}: gradients differ by ${dg} (scale ${scale})`);
  // Parameters after one AdamW step: w' = w(1 - lr wd) - lr g / (|g| + eps'),
  // eps' = eps / clip (m and v bias-corrected are g and g^2, times the clip).
  // With the gradients dg apart, the update moves by at most
  // lr dg max|d/dg g/(|g| + eps')| <= lr dg min(1 / (4 (|g| - dg)), 1 / eps),
  // and never more than 2 lr: large for gradients near 0 (noise on either
  // backend), negligible for the rest. Plus float32 rounding of w.
  for (const [name, w] of Object.entries(cpu.params1)) {
    const g = cpu.grads[name]; // undefined for batch-norm statistics (no gradient)
    gpu.params1[name].forEach((v, i) => {
      const x = g ? Math.max(Math.abs(g[i]) - dg, 0) : Infinity;
      const moved = g ? LR * Math.min(2, dg * Math.min(1 / (4 * x), 1 / EPS)) : 0;
      const tol = 1e-6 * (1 + Math.abs(w[i])) + moved;
      assert.ok(
        Math.abs(v - w[i]) <= tol,
        `${model}: ${name}[${i}] after one step: webgpu ${v}, cpu ${w[i]} (gradient ${
          g?.[i]
        }, tolerance ${tol})`,
      );
    });
  }
  // Losses and gradient norms of every step, and the evaluation logits after
  // them: float32 differences in the 7th digit (we see 1e-7), not 0.2 %.
  gpu.steps.forEach((s, i) => {
    const c = cpu.steps[i];
    assert.ok(close(s.loss, c.loss, 1e-5), `${model} step ${i + 1}: loss ${s.loss} vs ${c.loss}`);
    assert.ok(
      close(s.gradNorm, c.gradNorm, 1e-5),
      `${model} step ${i + 1}: gradient norm ${s.gradNorm} vs ${c.gradNorm}`,
    );
    assert.equal(s.correct, c.correct, `${model} step ${i + 1}: correct count`);
  });
  gpu.logits.forEach((v, i) =>
    assert.ok(close(v, cpu.logits[i], 1e-5), `${model}: logit ${i}: ${v} vs ${cpu.logits[i]}`)
  );
  return gpu.steps.map((s) => s.counts);
}

/** What a step may cost on any GPU: one read-back, two uploads (images, labels), no compilation after the first. */
function assertStepCosts(model: string, counts: Counts[], maxDispatches: number) {
  counts.forEach((c, i) => {
    assert.equal(c.readbacks, 1, `${model} step ${i + 1}: read-backs`);
    assert.equal(c.uploads, 2, `${model} step ${i + 1}: uploads`);
    if (i > 0) assert.equal(c.compiles, 0, `${model} step ${i + 1}: shader compilations`);
    // Measured 481 (ViT) and 624 (CNN); a per-leaf AdamW would add ~400.
    assert.ok(c.dispatches <= maxDispatches, `${model} step ${i + 1}: ${c.dispatches} dispatches`);
  });
}

Deno.test({
  name: "webgpu: ViT tiny trains as on cpu over 3 steps, with WebGPU's default 8-buffer limit",
  ignore,
  fn: async () => {
    // Default limits: the AddN over 32 leaves that broke #12 would fail here.
    const counts = await assertParity("vit", 3, { WEBGPU_DEFAULT_LIMITS: "1" });
    assertStepCosts("vit", counts, 560);
  },
});

Deno.test({
  name: "webgpu: CNN tiny (group norm) trains as on cpu, at the adapter's limits",
  ignore,
  fn: async () => {
    assertStepCosts("cnn", await assertParity("cnn", 2), 720);
  },
});

Deno.test({
  name: "webgpu: a batch-norm CNN trains, calibrates its statistics and evaluates as on cpu",
  ignore,
  fn: async () => {
    await assertParity("cnn-bn", 2);
  },
});

Deno.test({
  name: "webgpu: adamwStep (fused kernel) equals adamwStepOnHost, and addN sums 40 tensors",
  ignore,
  fn: async () => {
    const [gpu, host] = await Promise.all([
      child(["adamw", "webgpu"], { WEBGPU_DEFAULT_LIMITS: "1" }),
      child(["adamw", "cpu"]),
    ]);
    // float32 on the GPU against float64 arithmetic rounded once on the
    // host: a few ulps of values of size ~1 (we see 2e-7).
    for (const part of ["params", "m", "v"]) {
      for (const [name, want] of Object.entries(host[part] as Record<string, number[]>)) {
        (gpu[part][name] as number[]).forEach((v, i) =>
          assert.ok(Math.abs(v - want[i]) <= 1e-6, `${part} ${name}[${i}]: ${v} vs ${want[i]}`)
        );
      }
    }
    (gpu.addN as number[]).forEach((v, i) =>
      assert.ok(Math.abs(v - host.addN[i]) <= 1e-5, `addN[${i}]: ${v} vs ${host.addN[i]}`)
    );
    (gpu.gradNorms as number[]).forEach((n, i) =>
      assert.ok(close(n, host.gradNorms[i], 1e-6), `gradient norm ${n} vs ${host.gradNorms[i]}`)
    );
  },
});

Deno.test({
  name:
    "webgpu: host tensors of every dtype reach the kernels as on cpu, uploaded with writeBuffer",
  ignore,
  fn: async () => {
    const [gpu, cpu] = await Promise.all([child(["upload", "webgpu"]), child(["upload", "cpu"])]);
    assert.deepEqual(gpu, cpu);
    assert.deepEqual(gpu[0][1], [9, -(2 ** 31), 2 ** 30]); // int32 kept exact
    assert.deepEqual(gpu[0][3], [5, -3, 7]); // int32 held as float32 on the host: converted
  },
});

Deno.test({
  name:
    "webgpu: a validation error stops training, naming step and kernel; the last checkpoint stays",
  ignore,
  fn: async () => {
    const out = await Deno.makeTempDir();
    // Softmax also runs a program over the device's limits (as AddN did), once
    // epoch 1 has written its metrics and checkpoint: step 3 is the first bad one.
    const run = await deno([CHILD, "break", "Softmax", join(out, "metrics.jsonl"), "vit", ...[
      "--backend",
      "webgpu",
      "--preset",
      "tiny",
      "--data",
      "sample",
      "--epochs",
      "2",
      "--train-size",
      "16",
      "--batch-size",
      "8",
      "--test-size",
      "8",
      "--tta",
      "none",
      "--out",
      out,
    ]]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /error: WebGPU validation error in training step 3, kernel OversizedWorkgroupProgram: .*workgroup size.*Training stopped/,
    );
    const lines = (await Deno.readTextFile(join(out, "metrics.jsonl"))).trim().split("\n");
    assert.equal(lines.length, 1, "only epoch 1 was recorded");
    const ckpt = await readCheckpoint(join(out, "checkpoint.safetensors"));
    assert.deepEqual(
      [ckpt.header.run.epoch, ckpt.header.run.step],
      [1, 2],
      "the checkpoint is epoch 1's",
    );
    await assert.rejects(Deno.stat(join(out, "summary.json")));
    assert.doesNotMatch(run.stderr, /XDG_RUNTIME_DIR|looks like you are running TensorFlow\.js/);
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test("train, export and profile print neither tfjs's Node.js banner nor Mesa's XDG_RUNTIME_DIR line", async () => {
  const out = await Deno.makeTempDir();
  const noise = /XDG_RUNTIME_DIR|looks like you are running TensorFlow\.js/;
  const backends = ignore ? ["cpu"] : ["cpu", "webgpu"];
  for (const backend of backends) {
    const dir = join(out, backend);
    const train = await deno([TRAIN, "vit", ...[
      "--backend",
      backend,
      "--preset",
      "tiny",
      "--data",
      "sample",
      "--epochs",
      "1",
      "--train-size",
      "8",
      "--batch-size",
      "8",
      "--test-size",
      "8",
      "--tta",
      "none",
      "--out",
      dir,
    ]]);
    assert.equal(train.code, 0, train.stderr);
    assert.match(
      train.stderr,
      new RegExp(`backend: ${backend === "cpu" ? "stock tfjs cpu" : "webgpu on"}`),
    );
    assert.doesNotMatch(train.stderr + train.stdout, noise);
    const exported = await deno([EXPORT, ...[
      "--backend",
      backend,
      "--checkpoint",
      join(dir, "checkpoint.safetensors"),
      "--out",
      join(dir, "w.safetensors"),
    ]]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.doesNotMatch(exported.stderr + exported.stdout, noise);
  }
  // profile (like bench and eval) probes the adapter without write permission.
  const profiled = await deno(
    [PROFILE, "--model", "vit", "--preset", "tiny", "--batch-size", "8", "--steps", "1"],
    {},
    ["--allow-read", "--allow-env", "--allow-ffi"],
  );
  assert.equal(profiled.code, 0, profiled.stderr);
  assert.doesNotMatch(profiled.stderr + profiled.stdout, noise);
  await Deno.remove(out, { recursive: true });
});

Deno.test("describeAdapter() reads isFallbackAdapter from adapter.info and tells GL from Vulkan", () => {
  const lavapipe = {
    info: { description: "llvmpipe (LLVM 15.0.6, 256 bits)", isFallbackAdapter: true },
    limits: { maxBindingsPerBindGroup: 1024 },
  };
  const gl = { ...lavapipe, limits: { maxBindingsPerBindGroup: 0xffffffff } };
  const gpu = {
    info: { description: "NVIDIA H100 80GB HBM3", isFallbackAdapter: false },
    limits: {},
  };
  // What Deno 2.9.6 reported on an H100 (driver 580): NVIDIA's Vulkan driver
  // also has no binding limit; its GL does not offer the Vulkan-only features.
  const unlimited = { maxBindingsPerBindGroup: 0xffffffff };
  const nvidiaVulkan = {
    info: { description: "NVIDIA H100 80GB HBM3" },
    limits: unlimited,
    features: new Set(["bgra8unorm-storage", "float32-blendable", "shader-f16", "timestamp-query"]),
  };
  const nvidiaGL = {
    info: { description: "NVIDIA H100 80GB HBM3/PCIe/SSE2" },
    limits: unlimited,
    features: new Set(["float32-filterable", "texture-compression-etc2", "timestamp-query"]),
  };
  // Deno 2.9 puts the flag on info: an unknown name flagged there is software.
  assert.equal(
    isSoftwareAdapter({ info: { description: "Some Adapter", isFallbackAdapter: true } }),
    true,
  );
  assert.equal(isSoftwareAdapter({ info: { description: "SwiftShader Device" } }), true); // by name
  assert.equal(isSoftwareAdapter(gpu), false);
  if (Deno.env.get("DENO_WEBGPU_BACKEND")) return; // it names the API outright
  assert.equal(graphicsApi(gl), "GL");
  if (Deno.build.os === "linux") {
    assert.equal(
      describeAdapter(lavapipe),
      "llvmpipe (LLVM 15.0.6, 256 bits) via Vulkan (lavapipe), software",
    );
    assert.equal(describeAdapter(gl), "llvmpipe (LLVM 15.0.6, 256 bits) via GL, software");
    assert.equal(describeAdapter(gpu), "NVIDIA H100 80GB HBM3 via Vulkan");
    assert.equal(describeAdapter(nvidiaVulkan), "NVIDIA H100 80GB HBM3 via Vulkan");
    assert.equal(describeAdapter(nvidiaGL), "NVIDIA H100 80GB HBM3/PCIe/SSE2 via GL");
  }
});
