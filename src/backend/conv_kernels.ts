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
 * out[b, i, j] = Σ_taps grid[b, i+dy, j+dx] · W(dy, dx) for a stride-1
 * convolution whose input is already on a padded grid: one sgemm per tap,
 * accumulated on the grid, then the valid `outH x outW` corner copied out.
 */
function tapsOverGrid(
  sgemm: Sgemm,
  backend: WasmBackend,
  grid: {
    offset: number;
    batch: number;
    gridH: number;
    gridW: number;
    c: number;
  },
  taps: {
    kh: number;
    kw: number;
    weight: (dy: number, dx: number) => number;
    transposeW: boolean;
    cOut: number;
  },
  out: { offset: number; outH: number; outW: number },
): void {
  const { batch, gridH, gridW, c } = grid, cOut = taps.cOut;
  const rows = batch * gridH * gridW;
  const acc = scratch(backend, rows * cOut);
  try {
    const H = heapF32(backend);
    const accView = H.subarray(acc.offset);
    let first = true;
    for (let dy = 0; dy < taps.kh; dy++) {
      for (let dx = 0; dx < taps.kw; dx++) {
        const shift = (dy * gridW + dx) * c;
        const ldw = taps.transposeW ? c : cOut;
        sgemm(
          false,
          taps.transposeW,
          rows,
          cOut,
          c,
          1,
          H.subarray(grid.offset + shift),
          c,
          H.subarray(taps.weight(dy, dx)),
          ldw,
          first ? 0 : 1,
          accView,
          cOut,
        );
        first = false;
      }
    }
    const run = out.outW * cOut;
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < out.outH; i++) {
        const src = acc.offset + (b * gridH + i) * gridW * cOut;
        H.copyWithin(out.offset + (b * out.outH + i) * run, src, src + run);
      }
    }
  } finally {
    acc.free();
  }
}

export function conv2dForward(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { inputs: { x, filter }, attrs } = args;
    const backend = args.backend as WasmBackend;
    const g = x.dtype === "float32" ? conv1Info(x.shape, filter.shape, attrs) : null;
    if (!g || g.padTop < 0 || g.padLeft < 0) return original(args);
    const [, , cIn, cOut] = filter.shape;
    const gridH = g.outH + g.kh - 1, gridW = g.outW + g.kw - 1;
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
    }, (g.kh - 1) * gridW + g.kw);
    try {
      const fOff = floatOffset(backend, filter);
      tapsOverGrid(sgemm, backend, {
        offset: grid.offset,
        batch: g.batch,
        gridH,
        gridW,
        c: cIn,
      }, {
        kh: g.kh,
        kw: g.kw,
        cOut,
        transposeW: false,
        weight: (dy, dx) => fOff + (dy * g.kw + dx) * cIn * cOut,
      }, { offset: floatOffset(backend, out), outH: g.outH, outW: g.outW });
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
    try {
      const fOff = floatOffset(backend, filter);
      tapsOverGrid(sgemm, backend, {
        offset: grid.offset,
        batch: g.batch,
        gridH,
        gridW,
        c: cOut,
      }, {
        kh,
        kw,
        cOut: cIn,
        transposeW: true,
        weight: (a, b) => fOff + ((kh - 1 - a) * kw + (kw - 1 - b)) * cIn * cOut,
      }, { offset: floatOffset(backend, out), outH: g.inH, outW: g.inW });
    } finally {
      grid.free();
    }
    return out;
  };
}

/** dW of a conv: Σ over positions of the shifted input ᵀ · dy, one sgemm per tap. */
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
    const rows = g.batch * gridH * gridW;
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
    try {
      const H = heapF32(backend), oOff = floatOffset(backend, out);
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          const shift = (a * gridW + b) * cIn;
          sgemm(
            true,
            false,
            cIn,
            cOut,
            rows,
            1,
            H.subarray(xs.offset + shift),
            cIn,
            H.subarray(dys.offset),
            cOut,
            0,
            H.subarray(oOff + (a * kw + b) * cIn * cOut),
            cOut,
          );
        }
      }
    } finally {
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
