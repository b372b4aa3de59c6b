/**
 * Kernels the WebGPU backend gets on top of stock tfjs-backend-webgpu:
 *
 * - `AddN` that stays within the device's storage-buffer limit. Stock AddN
 *   binds one storage buffer per input, so with 8 or more inputs (WebGPU's
 *   default limit is 8 per shader stage, one of them the output) its pipeline
 *   fails validation, and the whole command batch with it. Ours sums at most
 *   `limit - 1` inputs per dispatch and adds the partial sums. (Concat, and
 *   Pack through it, already split like this; every other kernel the models
 *   use binds at most 5 buffers.)
 * - The fused AdamW update that `adamwStep` uses when a backend offers it:
 *   3 dispatches per parameter (first moment, second moment, parameter)
 *   instead of ~13 elementwise kernels and ~8 scalar uploads. The step's
 *   numbers (learning rate, bias corrections) travel as uniforms, so they
 *   never cause a recompile or an upload; the clip factor is computed on the
 *   GPU from the gradients' sum of squares, so it needs no read-back.
 * - Gradients of `Sum` and `Mean` that broadcast `dy` on the GPU. tfjs-core's
 *   multiply it by `tf.ones(x.shape)`, which is made on the host and uploaded:
 *   8 layer norms and a few sums made a ViT tiny step upload 530 kB of ones
 *   at batch 8, 8 MB at batch 128. Same values (`dy * 1 = dy`).
 * - One GPU buffer per scalar constant: every `tf.mul(x, 0.5)` makes a new
 *   scalar tensor on the host, and tfjs uploads each through its own new
 *   staging buffer; a ViT step made ~37 such uploads. They now share
 *   read-only buffers, made once per value.
 * - `readSync` that says what to do: tfjs reads synchronously through a
 *   canvas, which Deno does not have (it failed with "clearRect of null").
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { ADAMW_KERNEL, type AdamWKernelAttrs } from "../../core/ops.ts";
import type {
  ProgramUniform,
  TensorData,
  TensorInfo,
  WebGPUBackend,
  WebGPUProgram,
} from "./webgpu_internals.ts";

const WORKGROUP = 64;

/** An elementwise program over flat buffers of one shape (no index arithmetic). */
abstract class ElementwiseProgram implements WebGPUProgram {
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  size = true;
  abstract variableNames: string[];
  abstract uniforms: string;
  abstract shaderKey: string;
  constructor(public outputShape: number[]) {
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    const n = outputShape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(n / WORKGROUP), 1, 1];
  }
  /** WGSL for the element at `index`; inputs are arrays named by `variableNames`. */
  abstract body(): string;
  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${this.body()}
        }
      }`;
  }
}

/**
 * `beta * moment + (1 - beta) * f(clip * grad)`, with f the identity (first
 * moment) or the square (second); clip = min(1, clipNorm / (norm + 1e-6)),
 * norm = sqrt(sumSq), as in the host AdamW.
 */
class MomentProgram extends ElementwiseProgram {
  variableNames = ["moment", "grad", "sumSq"];
  uniforms = "beta : f32, oneMinusBeta : f32, clipNorm : f32,";
  shaderKey: string;
  constructor(shape: number[], private readonly squared: boolean) {
    super(shape);
    this.shaderKey = squared ? "adamwSecondMoment" : "adamwFirstMoment";
  }
  body(): string {
    return `
          var clip = 1.0;
          if (uniforms.clipNorm > 0.0) {
            clip = min(1.0, uniforms.clipNorm / (sqrt(sumSq[0]) + 1e-6));
          }
          let g = grad[index] * clip;
          setOutputAtIndex(index, uniforms.beta * moment[index] + uniforms.oneMinusBeta * ${
      this.squared ? "g * g" : "g"
    });`;
  }
}

/** `param * keep - lr * (m / bc1) / (sqrt(v / bc2) + eps)` (keep = 1 - lr * weightDecay). */
class ParamProgram extends ElementwiseProgram {
  variableNames = ["param", "firstMoment", "secondMoment"];
  uniforms = "lr : f32, keep : f32, bc1 : f32, bc2 : f32, eps : f32,";
  shaderKey = "adamwParam";
  body(): string {
    return `
          let mHat = firstMoment[index] / uniforms.bc1;
          let vHat = secondMoment[index] / uniforms.bc2;
          setOutputAtIndex(index, param[index] * uniforms.keep - uniforms.lr * mHat / (sqrt(vHat) + uniforms.eps));`;
  }
}

const f32 = (...values: number[]): ProgramUniform[] =>
  values.map((v) => ({ type: "float32", data: [v] }));

function adamw(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): TensorInfo[] {
  const { param, grad, m, v, sumSq } = args.inputs as unknown as Record<string, TensorInfo>;
  const a = args.attrs as unknown as AdamWKernelAttrs;
  const backend = args.backend as WebGPUBackend;
  for (const t of [param, grad, m, v]) {
    if (t.dtype !== "float32") throw new Error(`AdamW on WebGPU takes float32, got ${t.dtype}`);
  }
  // (1 - beta) in float64 before the uniform rounds it, as the host AdamW does.
  const m2 = backend.runWebGPUProgram(
    new MomentProgram(param.shape, false),
    [m, grad, sumSq],
    "float32",
    f32(a.beta1, 1 - a.beta1, a.clipNorm),
  );
  const v2 = backend.runWebGPUProgram(
    new MomentProgram(param.shape, true),
    [v, grad, sumSq],
    "float32",
    f32(a.beta2, 1 - a.beta2, a.clipNorm),
  );
  const p2 = backend.runWebGPUProgram(
    new ParamProgram(param.shape),
    [param, m2, v2],
    "float32",
    f32(a.lr, a.keep, a.bc1, a.bc2, a.eps),
  );
  return [p2, m2, v2];
}

/** Stock AddN in chunks of at most `limit - 1` inputs, then the chunks' sums. */
function limitSafeAddN(stock: tf.KernelFunc): tf.KernelFunc {
  const addN: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    const list = Array.from(inputs as unknown as ArrayLike<TensorInfo>);
    const most = (backend as WebGPUBackend).device.limits.maxStorageBuffersPerShaderStage - 1;
    if (list.length <= most) return stock({ inputs, backend, attrs });
    const partials: TensorInfo[] = [];
    for (let i = 0; i < list.length; i += most) {
      const chunk = list.slice(i, i + most) as unknown as tf.NamedTensorInfoMap;
      partials.push(addN({ inputs: chunk, backend, attrs }) as TensorInfo);
    }
    const sum = addN({ inputs: partials as unknown as tf.NamedTensorInfoMap, backend, attrs });
    for (const p of partials) (backend as WebGPUBackend).disposeData(p.dataId);
    return sum;
  };
  return addN;
}

/**
 * `gradFunc` for `Sum` (`scale` 1) or `Mean` (1 / the reduced size): `dy`
 * reshaped to keep the reduced axes and broadcast to `x`'s shape.
 */
function broadcastGradient(kernelName: "Sum" | "Mean"): tf.GradConfig {
  const stock = tf.getGradient(kernelName);
  return {
    ...stock,
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== "webgpu") return stock.gradFunc(dy, saved, attrs);
      const [x] = saved, g = dy as tf.Tensor;
      const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
      const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const reduced = axes.reduce((n, a) => n * x.shape[a], 1);
      return {
        x: () => {
          const g32 = g.dtype === "float32" ? g : tf.cast(g, "float32");
          const spread = tf.broadcastTo(tf.reshape(g32, kept), x.shape);
          return kernelName === "Mean" ? tf.div(spread, reduced) : spread;
        },
      };
    },
  };
}

let installed = false;

/** Register the kernels above for the `webgpu` backend (once). */
export function installWebGPUKernels(): void {
  if (installed) return;
  installed = true;
  const stockAddN = tf.getKernel("AddN", "webgpu")!.kernelFunc;
  tf.unregisterKernel("AddN", "webgpu");
  tf.registerKernel({
    kernelName: "AddN",
    backendName: "webgpu",
    kernelFunc: limitSafeAddN(stockAddN),
  });
  tf.registerKernel({
    kernelName: ADAMW_KERNEL,
    backendName: "webgpu",
    kernelFunc: adamw as unknown as tf.KernelFunc,
  });
  tf.registerGradient(broadcastGradient("Sum"));
  tf.registerGradient(broadcastGradient("Mean"));
}

/** Make synchronous reads of GPU data fail with advice instead of deep in tfjs. */
export function guardSyncReads(backend: WebGPUBackend): void {
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId) => {
    if (backend.tensorMap.get(dataId)?.values != null) return readSync(dataId); // already on the host
    throw new Error(
      "Synchronous reads (dataSync, arraySync, bufferSync) of GPU tensors do not work on the " +
        "webgpu backend in Deno (tfjs reads them through a canvas); use await tensor.data()",
    );
  };
}

/** Values past which scalar constants upload as usual (a bound on the buffers kept). */
const MAX_SHARED_SCALARS = 4096;

/**
 * Bind host-made one-element inputs to a shared read-only buffer per value
 * instead of uploading each. Only inputs: an output buffer is written, so it
 * is never shared. The tensor keeps its host values (reads need no copy),
 * and `external` tells tfjs not to recycle the buffer when it is disposed.
 */
export function shareScalarConstants(backend: WebGPUBackend): void {
  const shared = new Map<string, GPUBuffer>();
  const bits = new DataView(new ArrayBuffer(4));
  const run = backend.runWebGPUProgram.bind(backend);
  backend.runWebGPUProgram = (program, inputs, outputDtype, uniforms, output) => {
    for (const input of inputs) {
      const data = backend.tensorMap.get(input.dataId) as
        | (TensorData & { external?: boolean })
        | undefined;
      if (
        !data || data.resource != null || data.values?.length !== 1 ||
        (data.dtype !== "float32" && data.dtype !== "int32")
      ) continue;
      if (data.dtype === "float32") bits.setFloat32(0, data.values[0], true);
      else bits.setInt32(0, data.values[0], true);
      const key = `${data.dtype}:${bits.getUint32(0, true)}`;
      let buffer = shared.get(key);
      if (!buffer) {
        if (shared.size >= MAX_SHARED_SCALARS) continue;
        buffer = backend.device.createBuffer({
          size: 4,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
          mappedAtCreation: true,
        });
        new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(bits.buffer));
        buffer.unmap();
        shared.set(key, buffer);
      }
      data.resource = buffer;
      data.external = true;
    }
    // `output`, when given, is a buffer the kernel accumulates into (split-K
    // matmul's zeros): it must reach tfjs, or the sums land in a recycled one.
    return run(program, inputs, outputDtype, uniforms, output);
  };
}
