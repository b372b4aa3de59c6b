/**
 * The few tfjs-backend-wasm 4.22.0 internals our kernels rely on, in one
 * place, checked by {@linkcode checkWasmInternals} so an upgrade that moves
 * them fails loudly instead of computing garbage.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { PINNED_TFJS, type TensorInfo } from "../tfjs_internals.ts";

export type { TensorInfo };

/** What we use of the wasm backend object. */
export interface WasmBackend {
  dataIdMap: { get(dataId: unknown): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: string): TensorInfo;
  disposeData(dataId: unknown): boolean;
  wasm: {
    HEAPU8: Uint8Array;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    /** The module's exports; `memory` is the heap, for kernels that share it. */
    asm?: { memory?: unknown };
  };
}

/** Throw, naming what moved, unless the wasm backend looks as we expect. */
export function checkWasmInternals(
  backend: unknown,
): asserts backend is WasmBackend {
  const b = backend as Partial<WasmBackend> | undefined;
  const problems: string[] = [];
  if (tf.version_core !== PINNED_TFJS) {
    problems.push(`tfjs-core is ${tf.version_core}, not ${PINNED_TFJS}`);
  }
  if (typeof b?.dataIdMap?.get !== "function") {
    problems.push("backend.dataIdMap.get is missing");
  }
  if (typeof b?.makeOutput !== "function") {
    problems.push("backend.makeOutput is missing");
  }
  if (typeof b?.disposeData !== "function") {
    problems.push("backend.disposeData is missing");
  }
  if (!(b?.wasm?.HEAPU8 instanceof Uint8Array)) {
    problems.push("backend.wasm.HEAPU8 is missing");
  }
  if (
    typeof b?.wasm?._malloc !== "function" ||
    typeof b?.wasm?._free !== "function"
  ) {
    problems.push("backend.wasm._malloc/_free are missing");
  }
  for (
    const k of [
      "BatchMatMul",
      "Conv2D",
      "Conv2DBackpropInput",
      "Slice",
      "SplitV",
    ]
  ) {
    if (!tf.getKernel(k, "wasm")) {
      problems.push(`wasm kernel ${k} is not registered`);
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `The fast CPU kernels rely on tfjs-backend-wasm ${PINNED_TFJS} internals that moved: ${
        problems.join("; ")
      }. ` +
        `Pin @tensorflow/tfjs* to ${PINNED_TFJS} or use --backend wasm.`,
    );
  }
}

/** The whole wasm heap as floats; re-read after any allocation (growth replaces it). */
export function heapF32(backend: WasmBackend): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer);
}

/** A tensor's offset in the heap, in floats. */
export function floatOffset(backend: WasmBackend, t: TensorInfo): number {
  const entry = backend.dataIdMap.get(t.dataId);
  if (!entry) {
    throw new Error("wasm kernel: input tensor has no data (was it disposed?)");
  }
  return entry.memoryOffset >>> 2;
}

/** A tensor's offset in the heap, in bytes (what the SIMD kernels take). */
export function byteOffset(backend: WasmBackend, t: TensorInfo): number {
  return floatOffset(backend, t) * 4;
}

/** Scratch floats on the heap; call `free` when done. */
export function scratch(
  backend: WasmBackend,
  floats: number,
): { offset: number; free(): void } {
  const ptr = backend.wasm._malloc(Math.max(4, floats * 4)) >>> 0;
  if (ptr === 0) {
    throw new Error(
      `wasm kernel: out of memory allocating ${floats * 4} bytes`,
    );
  }
  return { offset: ptr >>> 2, free: () => backend.wasm._free(ptr) };
}
