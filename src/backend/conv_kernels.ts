/**
 * Convolution and pooling kernels on a native sgemm: stride-1 convolutions
 * as one sgemm per filter tap over a zero-padded grid (no im2col copy), any
 * other convolution's filter gradient by gathering, and a max-pool gradient
 * that matches tfjs's cpu backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Sgemm } from "./blas.ts";
import { type KernelArgs, type KernelFunc, prod } from "./kernel_common.ts";
import {
  floatOffset,
  heapF32,
  scratch,
  type TensorInfo,
  type WasmBackend,
} from "./wasm_internals.ts";

/** Geometry of a stride-1, dilation-1 NHWC convolution. */
interface Conv1 {
  batch: number;
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  kh: number;
  kw: number;
  padTop: number;
  padLeft: number;
}

function conv1Info(
  xShape: number[],
  filterShape: number[],
  attrs: {
    strides: number | number[];
    pad: unknown;
    dataFormat?: string;
    dilations?: number | number[];
    dimRoundingMode?: string;
  },
): Conv1 | null {
  if (attrs.dataFormat && attrs.dataFormat !== "NHWC") return null;
  const ci = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    (attrs.dilations ?? 1) as [number, number],
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor" | undefined,
    false,
    "channelsLast",
  );
  if (
    ci.strideHeight !== 1 || ci.strideWidth !== 1 || ci.dilationHeight !== 1 ||
    ci.dilationWidth !== 1
  ) return null;
  return {
    batch: ci.batchSize,
    inH: ci.inHeight,
    inW: ci.inWidth,
    outH: ci.outHeight,
    outW: ci.outWidth,
    kh: ci.filterHeight,
    kw: ci.filterWidth,
    padTop: ci.padInfo.top,
    padLeft: ci.padInfo.left,
  };
}

/**
 * Copy `src` `[batch, h, w, c]` into a zeroed padded grid of `gridH x gridW`
 * rows per image at (top, left), with `extraRows` zero rows after the last
 * image so every filter tap can read a full-length window.
 */
function padIntoGrid(
  backend: WasmBackend,
  srcOffset: number,
  g: {
    batch: number;
    h: number;
    w: number;
    c: number;
    gridH: number;
    gridW: number;
    top: number;
    left: number;
  },
  extraRows: number,
) {
  const rows = g.batch * g.gridH * g.gridW + extraRows;
  const buf = scratch(backend, rows * g.c);
  const H = heapF32(backend);
  H.fill(0, buf.offset, buf.offset + rows * g.c);
  const run = g.w * g.c;
  for (let b = 0; b < g.batch; b++) {
    for (let i = 0; i < g.h; i++) {
      const src = srcOffset + (b * g.h + i) * run;
      const dst = buf.offset +
        ((b * g.gridH + i + g.top) * g.gridW + g.left) * g.c;
      H.copyWithin(dst, src, src + run);
    }
  }
  return buf;
}

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

export function conv2dForward(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { x, filter }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const g = x.dtype === "float32" ? conv1Info(x.shape, filter.shape, attrs) : null;
    if (!g || g.padTop < 0 || g.padLeft < 0) return original(args);
    const [kh, kw, cIn, cOut] = filter.shape;
    const gridH = g.outH + kh - 1, gridW = g.outW + kw - 1;
    const out = backend.makeOutput([g.batch, g.outH, g.outW, cOut], "float32");
    if (prod(out.shape) === 0) return out;
    const grid = padIntoGrid(backend, floatOffset(backend, x), {
      batch: g.batch,
      h: g.inH,
      w: g.inW,
      c: cIn,
      gridH,
      gridW,
      top: g.padTop,
      left: g.padLeft,
    }, (kh - 1) * gridW + kw);
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
export function conv2dBackpropInput(
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
export function conv2dBackpropFilter(sgemm: Sgemm): KernelFunc {
  return (args) => {
    const { inputs: { x, dy }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const filterShape = attrs.filterShape as number[];
    const g = conv1Info(x.shape, filterShape, attrs);
    if (!g || g.padTop < 0 || g.padLeft < 0) return conv2dBackpropFilterGather(sgemm, args);
    const [kh, kw, cIn, cOut] = filterShape;
    const gridH = g.outH + kh - 1, gridW = g.outW + kw - 1;
    const out = backend.makeOutput(filterShape, "float32");
    const rows = g.batch * gridH * gridW, span = kw * cIn;
    const xs = padIntoGrid(backend, floatOffset(backend, x), {
      batch: g.batch,
      h: g.inH,
      w: g.inW,
      c: cIn,
      gridH,
      gridW,
      top: g.padTop,
      left: g.padLeft,
    }, (kh - 1) * gridW + kw);
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

/**
 * dW for any stride, dilation and padding (NHWC): per tap, gather the input
 * pixel each output position reads (zero outside the image), then one sgemm.
 */
function conv2dBackpropFilterGather(sgemm: Sgemm, args: KernelArgs): TensorInfo {
  const { inputs: { x, dy }, attrs } = args;
  const backend = args.backend as WasmBackend;
  if (attrs.dataFormat && attrs.dataFormat !== "NHWC") {
    throw new Error(
      "Conv2DBackpropFilter: the fast CPU path supports only NHWC (channels-last) data",
    );
  }
  const ci = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const [kh, kw, cIn, cOut] = attrs.filterShape as number[];
  const out = backend.makeOutput(attrs.filterShape, "float32");
  const m = ci.batchSize * ci.outHeight * ci.outWidth;
  const cols = scratch(backend, Math.max(1, m * cIn));
  try {
    const xo = floatOffset(backend, x),
      dyo = floatOffset(backend, dy),
      oo = floatOffset(backend, out);
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const H = heapF32(backend);
        let row = cols.offset;
        for (let n = 0; n < ci.batchSize; n++) {
          for (let i = 0; i < ci.outHeight; i++) {
            const y = i * ci.strideHeight + a * ci.dilationHeight - ci.padInfo.top;
            for (let j = 0; j < ci.outWidth; j++, row += cIn) {
              const xx = j * ci.strideWidth + b * ci.dilationWidth - ci.padInfo.left;
              if (y < 0 || y >= ci.inHeight || xx < 0 || xx >= ci.inWidth) {
                H.fill(0, row, row + cIn);
              } else {
                const src = xo + ((n * ci.inHeight + y) * ci.inWidth + xx) * cIn;
                H.copyWithin(row, src, src + cIn);
              }
            }
          }
        }
        if (m === 0) H.fill(0, oo + (a * kw + b) * cIn * cOut, oo + (a * kw + b + 1) * cIn * cOut);
        else {sgemm(
            true,
            false,
            cIn,
            cOut,
            m,
            1,
            H.subarray(cols.offset),
            cIn,
            H.subarray(dyo),
            cOut,
            0,
            H.subarray(oo + (a * kw + b) * cIn * cOut),
            cOut,
          );}
      }
    }
  } finally {
    cols.free();
  }
  return out;
}

/**
 * MaxPoolGrad: each output's gradient goes to the first maximal input in its
 * window, scanning rows then columns (tfjs's cpu convention). Stock
 * tfjs-backend-wasm 4.22.0 returns different values for the same inputs
 * (see tests/layers_test.ts) and is a slow loop.
 */
export function maxPoolGrad(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs: { dy, input }, attrs } = args;
    const backend = args.backend as WasmBackend;
    if (input.dtype !== "float32") return original(args);
    const ci = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const out = backend.makeOutput([...input.shape], "float32");
    const H = heapF32(backend);
    const xo = floatOffset(backend, input),
      dyo = floatOffset(backend, dy),
      oo = floatOffset(backend, out);
    const { inHeight, inWidth, inChannels: c, outHeight, outWidth } = ci;
    H.fill(0, oo, oo + prod(input.shape));
    const k = ci.filterHeight, sh = ci.strideHeight, sw = ci.strideWidth;
    if (
      k === 2 && ci.filterWidth === 2 && sh === 2 && sw === 2 && ci.padInfo.top === 0 &&
      ci.padInfo.left === 0
    ) {
      // The common 2x2/2 case, unrolled: the same first-max rule, 4 reads per output.
      const rowC = inWidth * c;
      for (let b = 0; b < ci.batchSize; b++) {
        for (let oy = 0; oy < outHeight; oy++) {
          for (let ox = 0; ox < outWidth; ox++) {
            const i00 = ((b * inHeight + 2 * oy) * inWidth + 2 * ox) * c,
              dyBase = dyo + ((b * outHeight + oy) * outWidth + ox) * c;
            for (let ch = 0; ch < c; ch++) {
              const p0 = i00 + ch, p1 = p0 + c, p2 = p0 + rowC, p3 = p2 + c;
              let at = p0, best = H[xo + p0];
              if (H[xo + p1] > best) (best = H[xo + p1]), (at = p1);
              if (H[xo + p2] > best) (best = H[xo + p2]), (at = p2);
              if (H[xo + p3] > best) at = p3;
              H[oo + at] += H[dyBase + ch];
            }
          }
        }
      }
      return out;
    }
    for (let b = 0; b < ci.batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        const y0 = oy * ci.strideHeight - ci.padInfo.top;
        for (let ox = 0; ox < outWidth; ox++) {
          const x0 = ox * ci.strideWidth - ci.padInfo.left;
          const dyBase = dyo + ((b * outHeight + oy) * outWidth + ox) * c;
          for (let ch = 0; ch < c; ch++) {
            let best = -Infinity, at = -1;
            for (let wy = 0; wy < ci.filterHeight; wy++) {
              const y = y0 + wy;
              if (y < 0 || y >= inHeight) continue;
              for (let wx = 0; wx < ci.filterWidth; wx++) {
                const x = x0 + wx;
                if (x < 0 || x >= inWidth) continue;
                const i = ((b * inHeight + y) * inWidth + x) * c + ch;
                if (H[xo + i] > best) {
                  best = H[xo + i];
                  at = i;
                }
              }
            }
            if (at >= 0) H[oo + at] += H[dyBase + ch];
          }
        }
      }
    }
    return out;
  };
}
