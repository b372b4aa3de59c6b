/**
 * Stride-1 convolutions by im2col in cache-sized chunks: the forward pass and
 * the filter gradient copy patches out of a zero-padded grid (one sgemm per
 * chunk with K = kh·kw·cIn); the input gradient multiplies dy into patch
 * gradients and adds them back onto a padded grid (col2im). No FLOPs on
 * padding positions: cheapest on small maps, where padding is much of a grid.
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";
import { conv1Info, type ConvGrid, convGrid, inputOnGrid } from "./conv_geometry.ts";
import { type KernelFunc, prod } from "./kernel_common.ts";
import { type SimdKernels, simdKernels } from "./simd.ts";
import { floatOffset, heapF32, scratch, type WasmBackend } from "./wasm_internals.ts";

/**
 * Floats per im2col chunk (1 MiB): the chunk is written, then read by the
 * sgemm while still in cache. Measured on the CNN-SA hour convolutions
 * (2 cores, batch 256): 1 MiB chunks beat 8 MiB ones in most runs.
 */
let chunkFloats = 1 << 18;

/**
 * Set the im2col chunk size in floats and return the old one. For tests,
 * which need several chunks on small inputs; training keeps the default.
 */
export function setConvChunkFloats(floats: number): number {
  const old = chunkFloats;
  chunkFloats = floats;
  return old;
}

/** Output rows per chunk for patches of `k` floats. */
function chunkRows(k: number, rows: number): number {
  return Math.max(1, Math.min(rows, Math.floor(chunkFloats / k)));
}

/** Output position number `m` as (image, row, column). */
function position(g: ConvGrid, m: number): [number, number, number] {
  const b = Math.floor(m / (g.outH * g.outW)), rem = m - b * g.outH * g.outW;
  const i = Math.floor(rem / g.outW);
  return [b, i, rem - i * g.outW];
}

/**
 * Patch rows `m0 .. m0+n` of the grid into `dst` (`n x kh·kw·c`): output
 * position (b, i, j) reads grid rows i..i+kh, each a contiguous run of kw
 * cells (kw·c floats) starting at column j.
 */
function im2col(
  H: Float32Array,
  gridOffset: number,
  g: ConvGrid,
  m0: number,
  n: number,
  dst: number,
) {
  const span = g.kw * g.cIn, k = g.kh * span, rowStep = g.gridW * g.cIn;
  let [b, i, j] = position(g, m0);
  for (let r = 0; r < n; r++, dst += k) {
    let src = gridOffset + ((b * g.gridH + i) * g.gridW + j) * g.cIn;
    for (let a = 0, d = dst; a < g.kh; a++, src += rowStep, d += span) {
      H.copyWithin(d, src, src + span);
    }
    if (++j === g.outW) {
      j = 0;
      if (++i === g.outH) (i = 0), b++;
    }
  }
}

/** The adjoint of {@linkcode im2col}: add patch rows `m0 .. m0+n` of `src` back onto the grid. */
function col2imAdd(
  H: Float32Array,
  gridOffset: number,
  g: ConvGrid,
  m0: number,
  n: number,
  src: number,
) {
  const span = g.kw * g.cIn, k = g.kh * span, rowStep = g.gridW * g.cIn;
  let [b, i, j] = position(g, m0);
  for (let r = 0; r < n; r++, src += k) {
    let dst = gridOffset + ((b * g.gridH + i) * g.gridW + j) * g.cIn;
    for (let a = 0, s = src; a < g.kh; a++, dst += rowStep, s += span) {
      for (let t = 0; t < span; t++) H[dst + t] += H[s + t];
    }
    if (++j === g.outW) {
      j = 0;
      if (++i === g.outH) (i = 0), b++;
    }
  }
}

/**
 * Patch rows `m0 .. m0+n` between the grid and `rows` (`n x kh·kw·cIn`):
 * copied out ({@linkcode im2col}) or, with `adjoint`, added back
 * ({@linkcode col2imAdd}); in SIMD where the module loaded.
 */
function patches(
  simd: SimdKernels | null,
  H: Float32Array,
  gridOffset: number,
  g: ConvGrid,
  m0: number,
  n: number,
  rows: number,
  adjoint: boolean,
): void {
  if (!simd) {
    return adjoint
      ? col2imAdd(H, gridOffset, g, m0, n, rows)
      : im2col(H, gridOffset, g, m0, n, rows);
  }
  const { gridH, gridW, cIn, kh, kw, outH, outW } = g;
  simd.im2col(gridOffset * 4, gridH, gridW, cIn, kh, kw, outH, outW, m0, n, rows * 4, +adjoint);
}

/** Copy the `h x w` window at (top, left) of each image's grid out, densely. */
function copyFromGrid(
  H: Float32Array,
  gridOffset: number,
  g: { batch: number; gridH: number; gridW: number; c: number },
  win: { h: number; w: number; top: number; left: number },
  dst: number,
) {
  const run = win.w * g.c;
  for (let b = 0; b < g.batch; b++) {
    for (let i = 0; i < win.h; i++, dst += run) {
      const src = gridOffset + ((b * g.gridH + i + win.top) * g.gridW + win.left) * g.c;
      H.copyWithin(dst, src, src + run);
    }
  }
}

/** The forward pass by im2col. */
export function im2colForward(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { x, filter }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const simd = simdKernels(backend);
    const g = x.dtype === "float32" ? conv1Info(x.shape, filter.shape, attrs) : null;
    if (!g || g.padTop < 0 || g.padLeft < 0) return original(args);
    const gc = convGrid(g, filter.shape), { kh, kw, cIn, cOut } = gc;
    const out = backend.makeOutput([g.batch, g.outH, g.outW, cOut], "float32");
    if (prod(out.shape) === 0) return out;
    const grid = inputOnGrid(backend, floatOffset(backend, x), gc, 0);
    const k = kh * kw * cIn, rows = g.batch * g.outH * g.outW, step = chunkRows(k, rows);
    const cols = scratch(backend, step * k);
    try {
      const H = heapF32(backend),
        fOff = floatOffset(backend, filter),
        oOff = floatOffset(backend, out);
      // The filter [kh][kw][cIn][cOut] is already the [kh·kw·cIn, cOut] matrix.
      for (let m0 = 0; m0 < rows; m0 += step) {
        const n = Math.min(step, rows - m0);
        patches(simd, H, grid.offset, gc, m0, n, cols.offset, false);
        sgemm(
          false,
          false,
          n,
          cOut,
          k,
          1,
          H.subarray(cols.offset),
          k,
          H.subarray(fOff),
          cOut,
          0,
          H.subarray(oOff + m0 * cOut),
          cOut,
        );
      }
    } finally {
      cols.free();
      grid.free();
    }
    return out;
  };
}

/**
 * dx of a stride-1 conv: per chunk of output positions, the patch gradients
 * dy · Wᵀ (one sgemm with the filter's full kh·kw·cIn as N), added back onto
 * a padded grid of the input (col2im), whose interior is dx.
 */
export function im2colBackpropInput(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { dy, filter }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const simd = simdKernels(backend);
    const g = dy.dtype === "float32" ? conv1Info(attrs.inputShape, filter.shape, attrs) : null;
    if (!g || g.padTop < 0 || g.padLeft < 0) return original(args);
    const gc = convGrid(g, filter.shape), { kh, kw, cIn, cOut, gridH, gridW } = gc;
    // Input rows or columns that no output reads (a valid conv's trailing edge) get zeros.
    const out = backend.makeOutput([g.batch, g.inH, g.inW, cIn], "float32");
    if (prod(out.shape) === 0) return out;
    const k = kh * kw * cIn, rows = g.batch * g.outH * g.outW, step = chunkRows(k, rows);
    const grid = scratch(backend, g.batch * gridH * gridW * cIn);
    const dcols = scratch(backend, step * k);
    try {
      const H = heapF32(backend),
        fOff = floatOffset(backend, filter),
        dyOff = floatOffset(backend, dy);
      H.fill(0, grid.offset, grid.offset + g.batch * gridH * gridW * cIn);
      for (let m0 = 0; m0 < rows; m0 += step) {
        const n = Math.min(step, rows - m0);
        sgemm(
          false,
          true,
          n,
          k,
          cOut,
          1,
          H.subarray(dyOff + m0 * cOut),
          cOut,
          H.subarray(fOff),
          cOut,
          0,
          H.subarray(dcols.offset),
          k,
        );
        patches(simd, H, grid.offset, gc, m0, n, dcols.offset, true);
      }
      const oOff = floatOffset(backend, out);
      H.fill(0, oOff, oOff + prod(out.shape));
      const h = Math.min(g.inH, gridH - g.padTop), w = Math.min(g.inW, gridW - g.padLeft);
      if (w === g.inW) {
        copyFromGrid(H, grid.offset, { batch: g.batch, gridH, gridW, c: cIn }, {
          h,
          w,
          top: g.padTop,
          left: g.padLeft,
        }, oOff);
      } else {
        // Narrower than the input: copy each row into its place in the full-width output.
        for (let b = 0; b < g.batch; b++) {
          for (let i = 0; i < h; i++) {
            const src = grid.offset + ((b * gridH + i + g.padTop) * gridW + g.padLeft) * cIn;
            H.copyWithin(oOff + (b * g.inH + i) * g.inW * cIn, src, src + w * cIn);
          }
        }
      }
    } finally {
      dcols.free();
      grid.free();
    }
    return out;
  };
}

/** dW of a conv: Σ over chunks of output positions of patchesᵀ · dy, one sgemm each. */
export function im2colBackpropFilter(sgemm: Sgemm): KernelFunc {
  return (args) => {
    const { inputs: { x, dy }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const simd = simdKernels(backend);
    const filterShape = attrs.filterShape as number[];
    const g = conv1Info(x.shape, filterShape, attrs);
    if (!g || g.padTop < 0 || g.padLeft < 0) {
      throw new Error("im2colBackpropFilter: not a stride-1 convolution");
    }
    const gc = convGrid(g, filterShape), { kh, kw, cIn, cOut } = gc;
    const out = backend.makeOutput(filterShape, "float32");
    const k = kh * kw * cIn, rows = g.batch * g.outH * g.outW;
    const oOff0 = floatOffset(backend, out);
    if (rows === 0) {
      heapF32(backend).fill(0, oOff0, oOff0 + k * cOut);
      return out;
    }
    const grid = inputOnGrid(backend, floatOffset(backend, x), gc, 0);
    const step = chunkRows(k, rows);
    const cols = scratch(backend, step * k);
    try {
      const H = heapF32(backend),
        dyOff = floatOffset(backend, dy),
        oOff = floatOffset(backend, out);
      for (let m0 = 0; m0 < rows; m0 += step) {
        const n = Math.min(step, rows - m0);
        patches(simd, H, grid.offset, gc, m0, n, cols.offset, false);
        sgemm(
          true,
          false,
          k,
          cOut,
          n,
          1,
          H.subarray(cols.offset),
          k,
          H.subarray(dyOff + m0 * cOut),
          cOut,
          m0 === 0 ? 0 : 1,
          H.subarray(oOff),
          cOut,
        );
      }
    } finally {
      cols.free();
      grid.free();
    }
    return out;
  };
}
