/**
 * Stride-1 convolutions as sgemms over a zero-padded grid, without im2col:
 * one sgemm per filter row (or tap) accumulating on the grid, which also
 * computes the padding positions. Cheapest on large maps, where padding is a
 * small fraction of the grid and im2col's patch copies would cost more.
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";
import { conv1Info, convGrid, inputOnGrid, padIntoGrid } from "./conv_geometry.ts";
import { type KernelFunc, prod } from "./kernel_common.ts";
import { floatOffset, heapF32, scratch, type WasmBackend } from "./wasm_internals.ts";

/**
 * Rows of `kw` consecutive grid cells: `wide[r] = grid[r .. r+kw)`, so that
 * one sgemm with K = kw·c covers a whole filter row (a 3x3 conv becomes 3
 * sgemms, not 9: a third of the accumulator traffic and larger K).
 */
function widenGrid(
  backend: WasmBackend,
  grid: { offset: number; c: number },
  rows: number,
  kw: number,
): { offset: number; free(): void } {
  const span = kw * grid.c;
  const wide = scratch(backend, rows * span);
  const H = heapF32(backend);
  for (let r = 0, src = grid.offset, dst = wide.offset; r < rows; r++, src += grid.c, dst += span) {
    H.copyWithin(dst, src, src + span);
  }
  return wide;
}

/** Geometry shared by the forward and input-gradient convolutions. */
interface GridConv {
  batch: number;
  gridH: number;
  gridW: number;
  kh: number;
  kw: number;
  /** Channels on the grid (the sgemm's K is kw times this). */
  c: number;
  cOut: number;
}

/**
 * out[b, i, j] = Σ_(a,b') grid[b, i+a, j+b'] · W[a][b'] for a stride-1
 * convolution whose input is on a padded grid; `weightRow(a)` is the heap
 * offset of `W[a]`, a `[kw·c, cOut]` matrix. Accumulates on the grid, then
 * copies the valid `outH x outW` corner out.
 *
 * Widening the grid (one sgemm per filter row, K = kw·c) copies the grid kw
 * times but cuts the accumulator's passes from kh·kw to kh; it pays when the
 * accumulator is the wider side (cOut > c / 2), else one sgemm per tap.
 */
function convOverGrid(
  sgemm: Sgemm,
  backend: WasmBackend,
  gridOffset: number,
  g: GridConv,
  weightRow: (a: number) => number,
  out: { offset: number; outH: number; outW: number },
): void {
  const rows = g.batch * g.gridH * g.gridW;
  const widen = 2 * g.cOut > g.c && g.kw > 1;
  const wide = widen
    ? widenGrid(backend, { offset: gridOffset, c: g.c }, rows + (g.kh - 1) * g.gridW, g.kw)
    : null;
  const acc = scratch(backend, rows * g.cOut);
  try {
    const H = heapF32(backend);
    const gemm = (src: number, k: number, w: number, first: boolean) =>
      sgemm(
        false,
        false,
        rows,
        g.cOut,
        k,
        1,
        H.subarray(src),
        k,
        H.subarray(w),
        g.cOut,
        first ? 0 : 1,
        H.subarray(acc.offset),
        g.cOut,
      );
    for (let a = 0; a < g.kh; a++) {
      if (wide) gemm(wide.offset + a * g.gridW * g.kw * g.c, g.kw * g.c, weightRow(a), a === 0);
      else {
        for (let b = 0; b < g.kw; b++) {
          gemm(
            gridOffset + (a * g.gridW + b) * g.c,
            g.c,
            weightRow(a) + b * g.c * g.cOut,
            a === 0 && b === 0,
          );
        }
      }
    }
    const run = out.outW * g.cOut;
    for (let b = 0; b < g.batch; b++) {
      for (let i = 0; i < out.outH; i++) {
        const src = acc.offset + (b * g.gridH + i) * g.gridW * g.cOut;
        H.copyWithin(out.offset + (b * out.outH + i) * run, src, src + run);
      }
    }
  } finally {
    acc.free();
    wide?.free();
  }
}

/** The forward pass over the padded grid. */
export function gridForward(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { x, filter }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const g = x.dtype === "float32" ? conv1Info(x.shape, filter.shape, attrs) : null;
    if (!g || g.padTop < 0 || g.padLeft < 0) return original(args);
    const cg = convGrid(g, filter.shape), { kh, kw, cIn, cOut, gridH, gridW } = cg;
    const out = backend.makeOutput([g.batch, g.outH, g.outW, cOut], "float32");
    if (prod(out.shape) === 0) return out;
    const grid = inputOnGrid(backend, floatOffset(backend, x), cg, (kh - 1) * gridW + kw);
    try {
      const fOff = floatOffset(backend, filter);
      // The filter [kh][kw][cIn][cOut] is already kh matrices of [kw·cIn, cOut].
      convOverGrid(
        sgemm,
        backend,
        grid.offset,
        { batch: g.batch, gridH, gridW, kh, kw, c: cIn, cOut },
        (a) => fOff + a * kw * cIn * cOut,
        { offset: floatOffset(backend, out), outH: g.outH, outW: g.outW },
      );
    } finally {
      grid.free();
    }
    return out;
  };
}

/** dx of a stride-1 conv: the conv of dy with the flipped, transposed filter. */
export function gridBackpropInput(
  sgemm: Sgemm,
): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { dy, filter }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const g = dy.dtype === "float32" ? conv1Info(attrs.inputShape, filter.shape, attrs) : null;
    if (!g) return original(args);
    const [kh, kw, cIn, cOut] = filter.shape;
    const top = kh - 1 - g.padTop, left = kw - 1 - g.padLeft;
    if (top < 0 || left < 0) return original(args);
    const gridH = g.inH + kh - 1, gridW = g.inW + kw - 1;
    const out = backend.makeOutput([g.batch, g.inH, g.inW, cIn], "float32");
    if (prod(out.shape) === 0) return out;
    const grid = padIntoGrid(backend, floatOffset(backend, dy), {
      batch: g.batch,
      h: g.outH,
      w: g.outW,
      c: cOut,
      gridH,
      gridW,
      top,
      left,
    }, (kh - 1) * gridW + kw);
    // flipped[a][b][co][ci] = filter[kh-1-a][kw-1-b][ci][co]: kh matrices of [kw·cOut, cIn].
    const flipped = scratch(backend, kh * kw * cIn * cOut);
    try {
      const H = heapF32(backend), fOff = floatOffset(backend, filter);
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          const src = fOff + ((kh - 1 - a) * kw + (kw - 1 - b)) * cIn * cOut;
          const dst = flipped.offset + (a * kw + b) * cOut * cIn;
          for (let ci = 0; ci < cIn; ci++) {
            for (let co = 0; co < cOut; co++) H[dst + co * cIn + ci] = H[src + ci * cOut + co];
          }
        }
      }
      convOverGrid(
        sgemm,
        backend,
        grid.offset,
        { batch: g.batch, gridH, gridW, kh, kw, c: cOut, cOut: cIn },
        (a) => flipped.offset + a * kw * cOut * cIn,
        { offset: floatOffset(backend, out), outH: g.inH, outW: g.inW },
      );
    } finally {
      flipped.free();
      grid.free();
    }
    return out;
  };
}

/** dW of a conv: per filter row, the widened input ᵀ · dy, one sgemm each. */
export function gridBackpropFilter(sgemm: Sgemm): KernelFunc {
  return (args) => {
    const { inputs: { x, dy }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const filterShape = attrs.filterShape as number[];
    const g = conv1Info(x.shape, filterShape, attrs);
    if (!g || g.padTop < 0 || g.padLeft < 0) {
      throw new Error("gridBackpropFilter: not a stride-1 convolution");
    }
    const cg = convGrid(g, filterShape), { kh, kw, cIn, cOut, gridH, gridW } = cg;
    const out = backend.makeOutput(filterShape, "float32");
    const rows = g.batch * gridH * gridW, span = kw * cIn;
    const xs = inputOnGrid(backend, floatOffset(backend, x), cg, (kh - 1) * gridW + kw);
    const dys = padIntoGrid(backend, floatOffset(backend, dy), {
      batch: g.batch,
      h: g.outH,
      w: g.outW,
      c: cOut,
      gridH,
      gridW,
      top: 0,
      left: 0,
    }, 0);
    const wide = widenGrid(backend, { offset: xs.offset, c: cIn }, rows + (kh - 1) * gridW, kw);
    try {
      const H = heapF32(backend), oOff = floatOffset(backend, out);
      for (let a = 0; a < kh; a++) {
        // dW[a] = [kw·cIn, cOut]; grid cells where dy is padding are zero and add nothing.
        sgemm(
          true,
          false,
          span,
          cOut,
          rows,
          1,
          H.subarray(wide.offset + a * gridW * span),
          span,
          H.subarray(dys.offset),
          cOut,
          0,
          H.subarray(oOff + a * span * cOut),
          cOut,
        );
      }
    } finally {
      wide.free();
      xs.free();
      dys.free();
    }
    return out;
  };
}
