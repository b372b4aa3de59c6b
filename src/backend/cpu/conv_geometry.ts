/**
 * The geometry the convolution kernels share: a stride-1 convolution's
 * sizes and padding, and the zero-padded grid both kernel families read.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { heapF32, scratch, type WasmBackend } from "./wasm_internals.ts";

/** Geometry of a stride-1, dilation-1 NHWC convolution. */
export interface Conv1 {
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

/** The stride-1 geometry of a conv's attributes, or null for any other convolution. */
export function conv1Info(
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
 * A stride-1 convolution laid over its zero-padded input grid: output
 * (b, i, j) reads grid rows i..i+kh-1 and columns j..j+kw-1, so the grid is
 * `(outH + kh - 1) x (outW + kw - 1)` cells of `cIn` channels per image.
 */
export interface ConvGrid extends Conv1 {
  gridH: number;
  gridW: number;
  cIn: number;
  cOut: number;
}

/** The grid of `g` for a filter of shape `[kh, kw, cIn, cOut]`. */
export function convGrid(g: Conv1, filterShape: readonly number[]): ConvGrid {
  const [kh, kw, cIn, cOut] = filterShape;
  return { ...g, gridH: g.outH + kh - 1, gridW: g.outW + kw - 1, cIn, cOut };
}

/**
 * The input at heap offset `xOffset` copied onto its zeroed grid (see
 * {@linkcode padIntoGrid}); the caller frees the returned scratch.
 */
export function inputOnGrid(
  backend: WasmBackend,
  xOffset: number,
  cg: ConvGrid,
  extraRows: number,
): ReturnType<typeof scratch> {
  return padIntoGrid(backend, xOffset, {
    batch: cg.batch,
    h: cg.inH,
    w: cg.inW,
    c: cg.cIn,
    gridH: cg.gridH,
    gridW: cg.gridW,
    top: cg.padTop,
    left: cg.padLeft,
  }, extraRows);
}

/**
 * Copy `src` `[batch, h, w, c]` into a zeroed padded grid of `gridH x gridW`
 * rows per image at (top, left), with `extraRows` zero rows after the last
 * image so every filter tap can read a full-length window.
 */
export function padIntoGrid(
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
): ReturnType<typeof scratch> {
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
