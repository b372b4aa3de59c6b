/**
 * Host-to-GPU uploads through `GPUQueue.writeBuffer`. tfjs writes a tensor's
 * values into `getMappedRange()` of a buffer mapped at creation (a new
 * staging buffer when its pool has the destination already), which in Deno
 * 2.9 is slow: on an NVIDIA H100, submitting the kernel that first reads a
 * training batch (256 images, 3 MB) took 93-107 ms of a 424-483 ms step, and
 * a CPU profile of training put 17 % of the main thread in
 * `getMappedRange`. `writeBuffer` copies the values once into the queue.
 *
 * Ordering: a buffer from tfjs's pool is not used by commands recorded and
 * not yet submitted (tfjs holds buffers back until their encoder is
 * submitted), and `writeBuffer` runs on the queue after every earlier
 * submission and before the next, so the write lands after every earlier
 * use of the buffer and before the kernels that read it.
 *
 * @module
 */
import type { WebGPUBackend } from "./webgpu_internals.ts";

/** Replace `backend.uploadToGPU` for tensors with host values; others go to tfjs's. */
export function uploadByWriteBuffer(backend: WebGPUBackend): void {
  const stock = backend.uploadToGPU.bind(backend);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  backend.uploadToGPU = (dataId) => {
    const data = backend.tensorMap.get(dataId);
    if (
      !data || data.resource != null || data.values == null || data.values.length === 0 ||
      !["float32", "int32", "bool"].includes(data.dtype)
    ) {
      return stock(dataId);
    }
    // Every dtype tfjs keeps on the GPU is 4 bytes: float32 as float32, int32
    // and bool (host Uint8Array) as int32. Host arrays of another type (an
    // int32 tensor made from a Float32Array) are converted, not sent as bits.
    const values = data.values;
    const bytes = data.dtype === "float32"
      ? values instanceof Float32Array ? values : Float32Array.from(values)
      : values instanceof Int32Array
      ? values
      : Int32Array.from(values);
    const buffer = backend.bufferManager.acquireBuffer(bytes.byteLength, usage);
    // tfjs's host arrays sit on plain ArrayBuffers; writeBuffer takes no
    // shared memory in Deno's own WebGPU types (a consumer's default `lib`),
    // so a view of a SharedArrayBuffer, should one come, is copied first.
    const [source, offset] = bytes.buffer instanceof ArrayBuffer
      ? [bytes.buffer, bytes.byteOffset]
      : [bytes.slice().buffer, 0];
    backend.device.queue.writeBuffer(buffer, 0, source, offset, bytes.byteLength);
    data.values = null; // as tfjs: once uploaded, no copy stays on the host
    data.resource = buffer;
  };
}
