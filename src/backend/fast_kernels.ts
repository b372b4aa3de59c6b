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
import {
  checkWasmInternals,
  floatOffset,
  heapF32,
  scratch,
  type TensorInfo,
  type WasmBackend,
} from "./wasm_internals.ts";

// Kernel attributes and the backend object are untyped in tfjs's kernel API.
type KernelArgs = {
  inputs: Record<string, TensorInfo>;
  // deno-lint-ignore no-explicit-any
  backend: any;
  // deno-lint-ignore no-explicit-any
  attrs: any;
};
type KernelFunc = (args: KernelArgs) => TensorInfo | TensorInfo[];

const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

function replaceKernel(
  name: string,
  make: (original: KernelFunc) => KernelFunc,
): void {
  const config = tf.getKernel(name, "wasm");
  if (!config) throw new Error(`wasm kernel ${name} is not registered`);
  const original = config.kernelFunc as unknown as KernelFunc;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({
    ...config,
    kernelFunc: make(original) as unknown as tf.KernelFunc,
  });
}

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

function conv2dForward(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
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
function conv2dBackpropInput(
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
function conv2dBackpropFilter(sgemm: Sgemm): KernelFunc {
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

/** Slice by copying contiguous runs inside the heap (the stock kernel copies the whole input out first). */
function slice(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs: { x }, attrs: { begin, size } } = args;
    const backend = args.backend as WasmBackend;
    if (x.dtype !== "float32" && x.dtype !== "int32") return original(args);
    const [b, sz] = tf.slice_util.parseSliceParams(
      x as unknown as tf.TensorInfo,
      begin,
      size,
    );
    const out = backend.makeOutput(sz, x.dtype);
    const n = prod(sz);
    if (n === 0) return out;
    const H = heapF32(backend); // int32 data is copied bit for bit through the float view
    const xo = floatOffset(backend, x), oo = floatOffset(backend, out);
    const r = x.shape.length, strides = [...tf.util.computeStrides(x.shape), 1];
    // The innermost contiguous run: trailing axes taken whole merge into it.
    let d = r - 1, run = sz[r - 1];
    while (d > 0 && sz[d] === x.shape[d]) run *= sz[--d];
    const idx = new Array(d).fill(0);
    let src0 = 0;
    for (let i = 0; i < r; i++) src0 += b[i] * strides[i];
    for (let k = 0; k < n / run; k++) {
      let src = src0;
      for (let i = 0; i < d; i++) src += idx[i] * strides[i];
      H.copyWithin(oo + k * run, xo + src, xo + src + run);
      for (let i = d - 1; i >= 0; i--) {
        if (++idx[i] < sz[i]) break;
        idx[i] = 0;
      }
    }
    return out;
  };
}

function splitV(sliceKernel: KernelFunc): (original: KernelFunc) => KernelFunc {
  return () => (args) => {
    const { inputs: { x }, backend, attrs: { numOrSizeSplits, axis } } = args;
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes: number[] = tf.backend_util.prepareSplitSize(
      x as unknown as tf.Tensor,
      numOrSizeSplits,
      ax,
    );
    const begin = new Array(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[ax] = s;
      const o = sliceKernel({
        inputs: { x },
        backend,
        attrs: { begin: [...begin], size },
      }) as TensorInfo;
      begin[ax] += s;
      return o;
    });
  };
}

/** Identity without a copy: share the input's data (the stock kernel copies it). */
function identity(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs: { x }, backend } = args;
    if (x.dtype === "string") return original(args);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
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

/**
 * MaxPoolGrad: each output's gradient goes to the first maximal input in its
 * window, scanning rows then columns (tfjs's cpu convention). Stock
 * tfjs-backend-wasm 4.22.0 returns different values for the same inputs
 * (see tests/layers_test.ts) and is a slow loop.
 */
function maxPoolGrad(original: KernelFunc): KernelFunc {
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

/** Concat by copying contiguous runs inside the heap. */
function concat(original: KernelFunc): KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as TensorInfo[];
    const backend = args.backend as WasmBackend;
    if (inputs.length === 0 || inputs.some((t) => t.dtype !== "float32" && t.dtype !== "int32")) {
      return original(args);
    }
    const dtype = inputs[0].dtype;
    if (inputs.some((t) => t.dtype !== dtype)) return original(args);
    const axis = tf.util.parseAxisParam(args.attrs.axis, inputs[0].shape)[0];
    const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
    const out = backend.makeOutput(outShape, dtype);
    const outer = prod(outShape.slice(0, axis)), rowOut = prod(outShape.slice(axis));
    if (outer * rowOut === 0) return out;
    const H = heapF32(backend), oo = floatOffset(backend, out);
    let col = 0;
    for (const t of inputs) {
      const row = prod(t.shape.slice(axis));
      if (row > 0) {
        const to = floatOffset(backend, t);
        for (let i = 0; i < outer; i++) {
          H.copyWithin(oo + i * rowOut + col, to + i * row, to + (i + 1) * row);
        }
      }
      col += row;
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
  checkWasmInternals(tf.backend());
  if (options.matmul) {
    replaceKernel("BatchMatMul", batchMatMul(sgemm));
    replaceKernel("Conv2D", conv2dForward(sgemm));
    replaceKernel("Conv2DBackpropInput", conv2dBackpropInput(sgemm));
    replaceKernel("Sum", sumKernel(sgemm));
  }
  replaceKernel("Identity", identity);
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
  let fastSlice: KernelFunc | null = null;
  replaceKernel("Slice", (orig) => (fastSlice = slice(orig)));
  replaceKernel("SplitV", splitV(fastSlice!));
  installed = true;
}
