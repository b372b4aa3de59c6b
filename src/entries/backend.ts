/**
 * Choosing the tfjs backend in Deno: `webgpu` on a real GPU adapter, else
 * the `fast` CPU path (tfjs's wasm backend with its matmuls and convolutions
 * on a native BLAS through Deno's FFI), or the stock `wasm` and `cpu`
 * backends. In a browser or Node there is no FFI: `fast` falls back to
 * portable kernels there, and a page can simply call `tf.setBackend`.
 *
 * @example Pick the backend once, before any tensor is made
 * ```ts
 * import { selectBackend } from "@vision-attention/sa/backend";
 * const backend = await selectBackend("cpu", true); // quiet: no log line
 * console.assert(backend.name === "cpu");
 * ```
 *
 * @module
 */
// The choice only: what select.ts passes through for the rest of the library
// (BLAS, WebGPU error capture and counters) is not part of the package.
export {
  type AdapterLike,
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  currentBackend,
  isSoftwareAdapter,
  selectBackend,
} from "../backend/select.ts";
