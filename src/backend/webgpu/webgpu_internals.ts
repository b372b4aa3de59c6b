/**
 * The few tfjs-backend-webgpu 4.22.0 internals our WebGPU modules rely on, in
 * one place, checked by {@linkcode checkWebGPUInternals} so an upgrade that
 * moves them fails loudly at start-up instead of losing error capture,
 * kernels or counters without a word.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { PINNED_TFJS, type TensorInfo } from "../tfjs_internals.ts";

export type { TensorInfo };

/** A tfjs WebGPU program: WGSL user code plus how to dispatch it. */
export interface WebGPUProgram {
  outputShape: number[];
  variableNames: string[];
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  shaderKey: string;
  /** Declares `uniforms.size` (the output's element count). */
  size?: boolean;
  /** Extra uniform fields, WGSL struct syntax: `"lr : f32, step : f32,"`. */
  uniforms?: string;
  getUserCode(): string;
}

/** One program-defined uniform value, in declaration order. */
export interface ProgramUniform {
  type: "float32" | "int32" | "uint32";
  data: number[];
}

/** What a tensor's data looks like inside the backend. */
export interface TensorData {
  values: ArrayLike<number> | null;
  dtype: string;
  shape: number[];
  resource?: unknown;
}

/** What we use of the WebGPU backend object. */
export interface WebGPUBackend {
  device: GPUDevice;
  tensorMap: { get(dataId: unknown): TensorData | undefined };
  /** tfjs's pool of GPU buffers, by size and usage. */
  bufferManager: {
    acquireBuffer(
      size: number,
      usage: number,
      mappedAtCreation?: boolean,
      reuse?: boolean,
    ): GPUBuffer;
  };
  /** `output`: an existing tensor to write (or accumulate) into. */
  runWebGPUProgram(
    program: WebGPUProgram,
    inputs: TensorInfo[],
    outputDtype: string,
    uniforms?: ProgramUniform[],
    output?: TensorInfo,
  ): TensorInfo;
  /** Encodes one dispatch (after the output and inputs are on the GPU). */
  recordAndSubmit(
    program: WebGPUProgram,
    output: TensorInfo,
    inputs: TensorInfo[],
    uniforms?: ProgramUniform[],
  ): void;
  /** Copies `data` of a tensor into a new GPU buffer unless it is there. */
  uploadToGPU(dataId: unknown): void;
  /** One GPU-to-host copy: the only way `read` reaches the device. */
  getBufferData(buffer: GPUBuffer): Promise<ArrayBuffer>;
  read(dataId: unknown): Promise<unknown>;
  readSync(dataId: unknown): unknown;
  disposeData(dataId: unknown, force?: boolean): boolean;
}

/** Throw, naming what moved, unless the WebGPU backend looks as we expect. */
export function checkWebGPUInternals(backend: unknown): asserts backend is WebGPUBackend {
  const b = backend as Partial<Record<keyof WebGPUBackend, unknown>> | undefined;
  const problems: string[] = [];
  if (tf.version_core !== PINNED_TFJS) {
    problems.push(`tfjs-core is ${tf.version_core}, not ${PINNED_TFJS}`);
  }
  if (typeof (b?.device as GPUDevice | undefined)?.createComputePipeline !== "function") {
    problems.push("backend.device is not a GPUDevice");
  }
  if (typeof (b?.tensorMap as { get?: unknown } | undefined)?.get !== "function") {
    problems.push("backend.tensorMap.get is missing");
  }
  const buffers = b?.bufferManager as { acquireBuffer?: unknown } | undefined;
  if (typeof buffers?.acquireBuffer !== "function") {
    problems.push("backend.bufferManager.acquireBuffer is missing");
  }
  for (
    const m of [
      "runWebGPUProgram",
      "recordAndSubmit",
      "uploadToGPU",
      "getBufferData",
      "read",
      "readSync",
      "disposeData",
    ] as const
  ) {
    if (typeof b?.[m] !== "function") problems.push(`backend.${m} is missing`);
  }
  for (const k of ["AddN", "Concat", "Sum", "Square"]) {
    if (!tf.getKernel(k, "webgpu")) problems.push(`webgpu kernel ${k} is not registered`);
  }
  if (problems.length > 0) {
    throw new Error(
      `The WebGPU path relies on tfjs-backend-webgpu ${PINNED_TFJS} internals that moved: ${
        problems.join("; ")
      }. Pin @tensorflow/tfjs* to ${PINNED_TFJS} or use --backend fast.`,
    );
  }
}

/** The running WebGPU backend, checked. */
export function webgpuBackend(): WebGPUBackend {
  const backend = tf.findBackend("webgpu");
  checkWebGPUInternals(backend);
  return backend;
}
