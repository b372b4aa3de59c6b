/**
 * Counts of the WebGPU work that costs per call on any GPU, whatever its
 * speed: dispatches, host reads (each a submit and a wait for the queue to
 * drain), uploads (a staging buffer and a copy each), and pipeline
 * compilations. The bench and the tests read them to show, and to hold, how
 * many of each a training step takes.
 *
 * @module
 */
import type { WebGPUBackend } from "./webgpu_internals.ts";

/** Cumulative counts since the backend started. */
export interface WebGPUCounts {
  /** Compute dispatches encoded. */
  dispatches: number;
  /** GPU-to-host reads (`data()`, `array()`): one queue round trip each. */
  readbacks: number;
  /** Host-to-GPU uploads of tensor values (a batch, a scalar constant...). */
  uploads: number;
  /** Bytes those uploads carried. */
  uploadBytes: number;
  /** Compute pipelines compiled (shader compilation). */
  compiles: number;
  /** The most storage buffers any one dispatch bound (inputs plus output). */
  maxStorageBuffers: number;
  /** The program that bound them. */
  maxStorageBuffersProgram: string;
}

const counts: WebGPUCounts = {
  dispatches: 0,
  readbacks: 0,
  uploads: 0,
  uploadBytes: 0,
  compiles: 0,
  maxStorageBuffers: 0,
  maxStorageBuffersProgram: "",
};

/** A copy of the counts so far; subtract two copies for a step's share. */
export function webgpuCounts(): WebGPUCounts {
  return { ...counts };
}

/** `after - before` for every count (the maximum is taken as is). */
export function countsBetween(before: WebGPUCounts, after: WebGPUCounts): WebGPUCounts {
  return {
    dispatches: after.dispatches - before.dispatches,
    readbacks: after.readbacks - before.readbacks,
    uploads: after.uploads - before.uploads,
    uploadBytes: after.uploadBytes - before.uploadBytes,
    compiles: after.compiles - before.compiles,
    maxStorageBuffers: after.maxStorageBuffers,
    maxStorageBuffersProgram: after.maxStorageBuffersProgram,
  };
}

/** Wrap the backend's dispatch, read, upload and compile paths to count them. */
export function installCounters(backend: WebGPUBackend): void {
  const record = backend.recordAndSubmit.bind(backend);
  backend.recordAndSubmit = (program, output, inputs, uniforms) => {
    counts.dispatches++;
    const buffers = inputs.length + 1;
    if (buffers > counts.maxStorageBuffers) {
      counts.maxStorageBuffers = buffers;
      counts.maxStorageBuffersProgram = program.constructor.name;
    }
    return record(program, output, inputs, uniforms);
  };
  const getBufferData = backend.getBufferData.bind(backend);
  backend.getBufferData = (buffer) => {
    counts.readbacks++;
    return getBufferData(buffer);
  };
  const upload = backend.uploadToGPU.bind(backend);
  backend.uploadToGPU = (dataId) => {
    const data = backend.tensorMap.get(dataId);
    if (data && data.resource == null && data.values != null) {
      counts.uploads++;
      counts.uploadBytes += 4 * data.values.length;
    }
    return upload(dataId);
  };
  const device = backend.device;
  const compile = device.createComputePipeline.bind(device);
  device.createComputePipeline = (descriptor) => {
    counts.compiles++;
    return compile(descriptor);
  };
}
