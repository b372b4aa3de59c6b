/**
 * The SIMD kernels (`wasm/kernels.ts`, shipped as bytes in
 * `simd_module.ts`), instantiated on tfjs-backend-wasm's own memory so they
 * read and write tensors where they lie. Every pointer is a byte offset
 * into that heap.
 *
 * @module
 */
import { SIMD_MODULE_BASE64 } from "./simd_module.ts";
import type { WasmBackend } from "./wasm_internals.ts";

/** The kernels the module exports (see `wasm/kernels.ts` for each one's contract). */
export interface SimdKernels {
  gelu(x: number, y: number, n: number): void;
  geluGrad(dy: number, x: number, dx: number, n: number): void;
  layerNorm(
    x: number,
    scale: number,
    shift: number,
    y: number,
    mean: number,
    rstd: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  layerNormGrad(
    dy: number,
    x: number,
    mean: number,
    rstd: number,
    scale: number,
    dx: number,
    dscale: number,
    dshift: number,
    rows: number,
    d: number,
    acc: number,
    total: number,
  ): void;
  batchNorm(
    x: number,
    scale: number,
    shift: number,
    y: number,
    mean: number,
    rstd: number,
    rows: number,
    d: number,
    eps: number,
    acc: number,
    total: number,
  ): void;
  batchNormGrad(
    dy: number,
    x: number,
    mean: number,
    rstd: number,
    scale: number,
    dx: number,
    dscale: number,
    dshift: number,
    rows: number,
    d: number,
    acc: number,
    total: number,
  ): void;
  maxPoolGrad2x2(
    x: number,
    dy: number,
    out: number,
    batch: number,
    inH: number,
    inW: number,
    c: number,
    outH: number,
    outW: number,
  ): void;
  splitHeads(
    src: number,
    d0: number,
    d1: number,
    d2: number,
    count: number,
    first: number,
    b: number,
    n: number,
    parts: number,
    h: number,
    dh: number,
    merge: number,
  ): void;
  im2col(
    grid: number,
    gridH: number,
    gridW: number,
    c: number,
    kh: number,
    kw: number,
    outH: number,
    outW: number,
    m0: number,
    n: number,
    dst: number,
    adjoint: number,
  ): void;
  /** Each row of `p` (`rows x cols`) becomes its softmax, in place. */
  softmaxRows(p: number, rows: number, cols: number): void;
  /** `dp ← scale · p ⊙ (dp − Σ dp ⊙ p)` per row, in place. */
  softmaxGradRows(p: number, dp: number, rows: number, cols: number, scale: number): void;
}

/** What the module exports: the kernels, the GELU pair wanting the constant table `k`. */
interface SimdExports extends Omit<SimdKernels, "gelu" | "geluGrad" | "softmaxRows"> {
  gelu(x: number, y: number, n: number, k: number): void;
  softmaxRows(p: number, rows: number, cols: number, k: number): void;
  geluGrad(dy: number, x: number, dx: number, n: number, k: number): void;
  constantBytes(): number;
  writeConstants(k: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();

function simdModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  const bytes = Uint8Array.from(atob(SIMD_MODULE_BASE64), (c) => c.charCodeAt(0));
  // An engine without WebAssembly SIMD rejects the module: no fused kernels then.
  compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  return compiled;
}

/** The wasm backend's memory, where tfjs-backend-wasm 4.22.0 keeps it. */
export function wasmMemory(backend: WasmBackend): WebAssembly.Memory | null {
  const memory = backend.wasm.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/**
 * The SIMD kernels on `backend`'s heap, for a kernel registered only where
 * they loaded. Looked up per call (a WeakMap read): a wasm backend created
 * anew has a new heap, and kernels bound to the old one would miss it.
 */
export function requireSimd(backend: WasmBackend): SimdKernels {
  const kernels = simdKernels(backend);
  if (!kernels) throw new Error("SIMD kernels: this wasm backend's memory cannot host them");
  return kernels;
}

/**
 * The SIMD kernels on `backend`'s heap, or null where the engine lacks
 * WebAssembly SIMD or the backend's memory cannot be found.
 */
export function simdKernels(backend: WasmBackend): SimdKernels | null {
  const memory = wasmMemory(backend);
  const module = memory && simdModule();
  if (!memory || !module) return null;
  let kernels = instances.get(memory);
  if (!kernels) {
    const exports = new WebAssembly.Instance(module, { env: { memory } })
      .exports as unknown as SimdExports;
    // The constant table lives as long as the heap (a few hundred bytes, never freed).
    const k = backend.wasm._malloc(exports.constantBytes()) >>> 0;
    if (k === 0) throw new Error("SIMD kernels: out of memory for the constant table");
    exports.writeConstants(k);
    kernels = {
      ...exports,
      gelu: (x, y, n) => exports.gelu(x, y, n, k),
      geluGrad: (dy, x, dx, n) => exports.geluGrad(dy, x, dx, n, k),
      softmaxRows: (p, rows, cols) => exports.softmaxRows(p, rows, cols, k),
    };
    instances.set(memory, kernels);
  }
  return kernels;
}
