/**
 * Convolution kernels on a native sgemm. Stride-1 convolutions take one of
 * two forms: by im2col in chunks (`conv_im2col.ts`), or over a zero-padded
 * grid without copies (`conv_grid.ts`), which wins only without the SIMD
 * kernels and on large maps; any other convolution's filter gradient by
 * gathering.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Sgemm } from "./blas.ts";
import { type Conv1, conv1Info } from "./conv_geometry.ts";
import { gridBackpropFilter, gridBackpropInput, gridForward } from "./conv_grid.ts";
import { im2colBackpropFilter, im2colBackpropInput, im2colForward } from "./conv_im2col.ts";
import type { KernelArgs, KernelFunc } from "./kernel_common.ts";
import { simdKernels } from "./simd.ts";
import {
  floatOffset,
  heapF32,
  scratch,
  type TensorInfo,
  type WasmBackend,
} from "./wasm_internals.ts";

export { setConvChunkFloats } from "./conv_im2col.ts";

/** Which form stride-1 convolutions take: by map size, or one form (for tests). */
export type ConvForm = "auto" | "grid" | "im2col";
let form: ConvForm = "auto";

/** Force one form of stride-1 convolution and return the old setting (for tests). */
export function setConvForm(f: ConvForm): ConvForm {
  const old = form;
  form = f;
  return old;
}

/**
 * The grid form computes (gridH·gridW) / (outH·outW) times the FLOPs but
 * copies nothing; im2col copies each input kh·kw times. With the SIMD
 * im2col, im2col wins at every CNN-SA hour and ViT hour tokenizer shape
 * (batch 256, best of 5, both forms in one process, 2 sgemm threads):
 * 32x32x24→64 forward 94 vs 189 ms, input gradient 96 vs 271, filter
 * gradient 92 vs 186; 16x16x64→128 95 vs 193, 102 vs 252, 95 vs 165;
 * 32x32x3→24 18 vs 50. Without SIMD (JavaScript copies) the grid form won
 * at 32x32 (forward 170 vs 202 ms, filter gradient 218 vs 277) and im2col
 * from 16x16 down.
 */
function useGrid(g: Conv1, kh: number, kw: number, backend: WasmBackend): boolean {
  if (form !== "auto") return form === "grid";
  if (simdKernels(backend)) return false;
  const grid = (g.outH + kh - 1) * (g.outW + kw - 1);
  return grid < 1.2 * g.outH * g.outW;
}

/** Conv2D: the grid or im2col form (stride 1), else tfjs's own kernel. */
export function conv2dForward(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => {
    const grid = gridForward(sgemm)(original), im2col = im2colForward(sgemm)(original);
    return (args) => {
      const { inputs: { x, filter }, attrs } = args;
      const g = conv1Info(x.shape, filter.shape, attrs);
      return g && useGrid(g, filter.shape[0], filter.shape[1], args.backend)
        ? grid(args)
        : im2col(args);
    };
  };
}

/** Conv2DBackpropInput: the grid or im2col form (stride 1), else tfjs's own kernel. */
export function conv2dBackpropInput(sgemm: Sgemm): (original: KernelFunc) => KernelFunc {
  return (original) => {
    const grid = gridBackpropInput(sgemm)(original),
      im2col = im2colBackpropInput(sgemm)(original);
    return (args) => {
      const { inputs: { filter }, attrs } = args;
      const g = conv1Info(attrs.inputShape, filter.shape, attrs);
      // The grid form places dy in a grid the input's size plus the filter's:
      // more bottom or right padding than the filter minus one does not fit.
      const fits = g !== null && g.outH - g.padTop <= g.inH && g.outW - g.padLeft <= g.inW;
      return fits && useGrid(g, filter.shape[0], filter.shape[1], args.backend)
        ? grid(args)
        : im2col(args);
    };
  };
}

/** Conv2DBackpropFilter (absent from stock tfjs-backend-wasm): grid, im2col or gather. */
export function conv2dBackpropFilter(sgemm: Sgemm): KernelFunc {
  const grid = gridBackpropFilter(sgemm), im2col = im2colBackpropFilter(sgemm);
  return (args) => {
    const { inputs: { x }, attrs } = args;
    const [kh, kw] = attrs.filterShape as number[];
    const g = conv1Info(x.shape, attrs.filterShape, attrs);
    if (!g || g.padTop < 0 || g.padLeft < 0) return conv2dBackpropFilterGather(sgemm, args);
    return useGrid(g, kh, kw, args.backend) ? grid(args) : im2col(args);
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
