/**
 * Convolution and pooling kernels on a native sgemm: stride-1 convolutions
 * by im2col in cache-sized chunks (the forward pass and the filter gradient
 * copy patches out of a zero-padded grid; the input gradient multiplies into
 * patches and adds them back), any other convolution's filter gradient by
 * gathering, and a max-pool gradient that matches tfjs's cpu backend.
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
 * rows per image at (top, left).
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
) {
  const rows = g.batch * g.gridH * g.gridW;
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

/** Geometry of a stride-1 convolution read from a padded grid. */
interface GridConv {
  batch: number;
  gridH: number;
  gridW: number;
  /** Output positions per image: the top-left `outH x outW` corner of the grid. */
  outH: number;
  outW: number;
  kh: number;
  kw: number;
  /** Channels on the grid. */
  c: number;
}

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
function position(g: GridConv, m: number): [number, number, number] {
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
  g: GridConv,
  m0: number,
  n: number,
  dst: number,
) {
  const span = g.kw * g.c, k = g.kh * span, rowStep = g.gridW * g.c;
  let [b, i, j] = position(g, m0);
  for (let r = 0; r < n; r++, dst += k) {
    let src = gridOffset + ((b * g.gridH + i) * g.gridW + j) * g.c;
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
  g: GridConv,
  m0: number,
  n: number,
  src: number,
) {
  const span = g.kw * g.c, k = g.kh * span, rowStep = g.gridW * g.c;
  let [b, i, j] = position(g, m0);
  for (let r = 0; r < n; r++, src += k) {
    let dst = gridOffset + ((b * g.gridH + i) * g.gridW + j) * g.c;
    for (let a = 0, s = src; a < g.kh; a++, dst += rowStep, s += span) {
      for (let t = 0; t < span; t++) H[dst + t] += H[s + t];
    }
    if (++j === g.outW) {
      j = 0;
      if (++i === g.outH) (i = 0), b++;
    }
  }
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
    });
    const gc: GridConv = {
      batch: g.batch,
      gridH,
      gridW,
      outH: g.outH,
      outW: g.outW,
      kh,
      kw,
      c: cIn,
    };
    const k = kh * kw * cIn, rows = g.batch * g.outH * g.outW, step = chunkRows(k, rows);
    const cols = scratch(backend, step * k);
    try {
      const H = heapF32(backend),
        fOff = floatOffset(backend, filter),
        oOff = floatOffset(backend, out);
      // The filter [kh][kw][cIn][cOut] is already the [kh·kw·cIn, cOut] matrix.
      for (let m0 = 0; m0 < rows; m0 += step) {
        const n = Math.min(step, rows - m0);
        im2col(H, grid.offset, gc, m0, n, cols.offset);
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
export function conv2dBackpropInput(
  sgemm: Sgemm,
): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { dy, filter }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const g = dy.dtype === "float32" ? conv1Info(attrs.inputShape, filter.shape, attrs) : null;
    if (!g || g.padTop < 0 || g.padLeft < 0) return original(args);
    const [kh, kw, cIn, cOut] = filter.shape;
    const gridH = g.outH + kh - 1, gridW = g.outW + kw - 1;
    // Input rows or columns that no output reads (a valid conv's trailing edge) get zeros.
    const out = backend.makeOutput([g.batch, g.inH, g.inW, cIn], "float32");
    if (prod(out.shape) === 0) return out;
    const gc: GridConv = {
      batch: g.batch,
      gridH,
      gridW,
      outH: g.outH,
      outW: g.outW,
      kh,
      kw,
      c: cIn,
    };
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
        col2imAdd(H, grid.offset, gc, m0, n, dcols.offset);
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
    const k = kh * kw * cIn, rows = g.batch * g.outH * g.outW;
    const oOff0 = floatOffset(backend, out);
    if (rows === 0) {
      heapF32(backend).fill(0, oOff0, oOff0 + k * cOut);
      return out;
    }
    const grid = padIntoGrid(backend, floatOffset(backend, x), {
      batch: g.batch,
      h: g.inH,
      w: g.inW,
      c: cIn,
      gridH,
      gridW,
      top: g.padTop,
      left: g.padLeft,
    });
    const gc: GridConv = {
      batch: g.batch,
      gridH,
      gridW,
      outH: g.outH,
      outW: g.outW,
      kh,
      kw,
      c: cIn,
    };
    const step = chunkRows(k, rows);
    const cols = scratch(backend, step * k);
    try {
      const H = heapF32(backend),
        dyOff = floatOffset(backend, dy),
        oOff = floatOffset(backend, out);
      for (let m0 = 0; m0 < rows; m0 += step) {
        const n = Math.min(step, rows - m0);
        im2col(H, grid.offset, gc, m0, n, cols.offset);
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
