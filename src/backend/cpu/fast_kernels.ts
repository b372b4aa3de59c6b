/**
 * Faster training kernels for tfjs's wasm backend on CPUs. Stock
 * tfjs-backend-wasm 4.22.0 trains at about 2 GFLOP/s because a few kernels
 * are naive loops or missing: BatchMatMul with a batch or a transpose,
 * Conv2DBackpropInput, Conv2DBackpropFilter (absent), and Slice/SplitV (which
 * copy the whole input out of the heap first). Here the matmul-class kernels
 * call a native sgemm (see `blas.ts`) directly on the wasm heap, zero-copy;
 * stride-1 convolutions run as one sgemm per filter tap over a padded grid.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Sgemm } from "./blas.ts";
import { conv2dBackpropFilter, conv2dBackpropInput, conv2dForward } from "./conv_kernels.ts";
import { maxPoolGrad } from "./pool_kernels.ts";
import { normKernels } from "./norm_kernels.ts";
import { activationKernels } from "./activation_kernels.ts";
import { headKernels } from "./head_kernels.ts";
import { attentionKernels } from "./attention_kernels.ts";
import { simdKernels } from "./simd.ts";
import { cast, concat, identity, slice, splitV } from "./copy_kernels.ts";
import { type KernelFunc, prod, replaceKernel } from "./kernel_common.ts";
import {
  checkWasmInternals,
  floatOffset,
  heapF32,
  scratch,
  type WasmBackend,
} from "./wasm_internals.ts";

/** Batched matmul with broadcasting over batch axes, via sgemm. */
function batchMatMul(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { a, b }, attrs: { transposeA, transposeB } } = args;
    const backend = args.backend as WasmBackend;
    if (a.dtype !== "float32" || b.dtype !== "float32") return original(args);
    const ra = a.shape.length, rb = b.shape.length;
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    if (k !== kb) {
      throw new Error(
        `matMul: inner sizes differ: a [${a.shape}] and b [${b.shape}]`,
      );
    }
    const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
    const outBatch: number[] = tf.backend_util.assertAndGetBroadcastShape(
      batchA,
      batchB,
    );
    const out = backend.makeOutput([...outBatch, m, n], "float32");
    const nOut = prod(outBatch);
    if (m * n === 0 || nOut === 0) return out;
    const H = heapF32(backend);
    const offA = floatOffset(backend, a),
      offB = floatOffset(backend, b),
      offC = floatOffset(backend, out);
    const lda = a.shape[ra - 1], ldb = b.shape[rb - 1];
    if (prod(batchB) === 1 && !transposeA) {
      // b is shared by every batch entry: fold a's batch into rows, one call.
      sgemm(
        false,
        transposeB,
        nOut * m,
        n,
        k,
        1,
        H.subarray(offA),
        lda,
        H.subarray(offB),
        ldb,
        0,
        H.subarray(offC),
        n,
      );
      return out;
    }
    const indexA = broadcastIndex(batchA, outBatch),
      indexB = broadcastIndex(batchB, outBatch);
    for (let i = 0; i < nOut; i++) {
      sgemm(
        transposeA,
        transposeB,
        m,
        n,
        k,
        1,
        H.subarray(offA + indexA(i) * m * k),
        lda,
        H.subarray(offB + indexB(i) * k * n),
        ldb,
        0,
        H.subarray(offC + i * m * n),
        n,
      );
    }
    return out;
  };
}

/** Maps a flat index over `outShape` to the flat index of a broadcast input of `shape`. */
function broadcastIndex(
  shape: number[],
  outShape: number[],
): (i: number) => number {
  const r = outShape.length, s = [...Array(r - shape.length).fill(1), ...shape];
  if (prod(s) === prod(outShape)) return (i) => i;
  if (prod(s) === 1) return () => 0;
  return (i) => {
    let idx = 0, stride = 1;
    for (let d = r - 1; d >= 0; d--) {
      const coord = i % outShape[d];
      i = Math.floor(i / outShape[d]);
      if (s[d] !== 1) idx += coord * stride;
      stride *= s[d];
    }
    return idx;
  };
}

/**
 * Sum over a block of leading or middle axes as `ones[1, R] · X[R, Q]` per
 * outer index (bias and scale gradients reduce `[batch·tokens, dim]` to
 * `[dim]`; the stock kernel transposes first). Other reductions keep the
 * stock kernel.
 */
function sumKernel(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { x }, attrs: { axis, keepDims } } = args;
    const backend = args.backend as WasmBackend;
    if (x.dtype !== "float32") return original(args);
    const axes = [...tf.util.parseAxisParam(axis, x.shape)].sort((a, b) => a - b);
    const r = x.shape.length;
    const first = axes[0], last = axes[axes.length - 1];
    const contiguous = axes.length > 0 && last - first + 1 === axes.length;
    if (!contiguous || last === r - 1) return original(args);
    const outer = prod(x.shape.slice(0, first)),
      reduce = prod(x.shape.slice(first, last + 1));
    const inner = prod(x.shape.slice(last + 1));
    const outShape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    const out = backend.makeOutput(outShape, "float32");
    if (outer * inner === 0) return out;
    const ones = scratch(backend, reduce);
    try {
      const H = heapF32(backend);
      H.fill(1, ones.offset, ones.offset + reduce);
      const xo = floatOffset(backend, x), oo = floatOffset(backend, out);
      if (reduce === 0) H.fill(0, oo, oo + outer * inner);
      else {
        for (let p = 0; p < outer; p++) {
          sgemm(
            false,
            false,
            1,
            inner,
            reduce,
            1,
            H.subarray(ones.offset),
            reduce,
            H.subarray(xo + p * reduce * inner),
            inner,
            0,
            H.subarray(oo + p * inner),
            inner,
          );
        }
      }
    } finally {
      ones.free();
    }
    return out;
  };
}

let installed = false;

/**
 * Replace the wasm backend's kernels with the fast ones. Call once, after
 * `tf.setBackend("wasm")`; idempotent. With `matmul: false` (a slow sgemm),
 * only the missing filter gradient and the slices are replaced, and matmuls
 * and convs stay on XNNPACK.
 */
export function installFastKernels(
  sgemm: Sgemm,
  options: { matmul: boolean } = { matmul: true },
): void {
  if (installed) return;
  const backend = tf.backend();
  checkWasmInternals(backend);
  // The SIMD kernels are looked up per call; here only whether they load.
  const simd = simdKernels(backend);
  if (options.matmul) {
    replaceKernel("BatchMatMul", batchMatMul(sgemm));
    replaceKernel("Conv2D", conv2dForward(sgemm));
    replaceKernel("Conv2DBackpropInput", conv2dBackpropInput(sgemm));
    replaceKernel("Sum", sumKernel(sgemm));
  }
  replaceKernel("Identity", identity);
  replaceKernel("Cast", cast);
  replaceKernel("MaxPoolGrad", maxPoolGrad);
  replaceKernel("Concat", concat);
  // Absent from stock tfjs-backend-wasm 4.22.0: registered, not replaced.
  if (tf.getKernel("Conv2DBackpropFilter", "wasm")) {
    tf.unregisterKernel("Conv2DBackpropFilter", "wasm");
  }
  tf.registerKernel({
    kernelName: "Conv2DBackpropFilter",
    backendName: "wasm",
    kernelFunc: conv2dBackpropFilter(sgemm) as unknown as tf.KernelFunc,
  });
  // Fused kernels with no stock counterpart; without WebAssembly SIMD the
  // layers compute the same functions with ops.
  const fused = simd ? [...normKernels(), ...activationKernels(), ...headKernels()] : [];
  // Attention calls sgemm per head: only where the matmuls are native too.
  if (simd && options.matmul) fused.push(...attentionKernels(sgemm));
  for (const [kernelName, kernelFunc] of fused) {
    if (!tf.getKernel(kernelName, "wasm")) {
      tf.registerKernel({
        kernelName,
        backendName: "wasm",
        kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      });
    }
  }
  let fastSlice: KernelFunc | null = null;
  replaceKernel("Slice", (orig) => (fastSlice = slice(orig)));
  replaceKernel("SplitV", splitV(fastSlice!));
  installed = true;
}
