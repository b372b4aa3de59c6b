/**
 * The max-pool gradient for the wasm backend, on the heap.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type KernelFunc, prod } from "./kernel_common.ts";
import { simdKernels } from "./simd.ts";
import { byteOffset, floatOffset, heapF32, type WasmBackend } from "./wasm_internals.ts";

/**
 * MaxPoolGrad: each output's gradient goes to the first maximal input in its
 * window, scanning rows then columns (tfjs's cpu convention). Stock
 * tfjs-backend-wasm 4.22.0 returns different values for the same inputs
 * (see tests/unit/layers_test.ts) and is a slow loop.
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
    const { inHeight, inWidth, inChannels: c, outHeight, outWidth } = ci;
    const k = ci.filterHeight, sh = ci.strideHeight, sw = ci.strideWidth;
    // 2x2 windows at stride 2 that all lie inside the input ('same' padding
    // on an odd size adds a window past the edge: the general loop takes it).
    const twoByTwo = k === 2 && ci.filterWidth === 2 && sh === 2 && sw === 2 &&
      ci.padInfo.top === 0 && ci.padInfo.left === 0 &&
      2 * outHeight <= inHeight && 2 * outWidth <= inWidth;
    const simd = simdKernels(backend);
    if (twoByTwo && simd) {
      // The common 2x2/2 case in SIMD, four channels at a time.
      simd.maxPoolGrad2x2(
        byteOffset(backend, input),
        byteOffset(backend, dy),
        byteOffset(backend, out),
        ci.batchSize,
        inHeight,
        inWidth,
        c,
        outHeight,
        outWidth,
      );
      return out;
    }
    const H = heapF32(backend);
    const xo = floatOffset(backend, input),
      dyo = floatOffset(backend, dy),
      oo = floatOffset(backend, out);
    H.fill(0, oo, oo + prod(input.shape));
    if (twoByTwo) {
      // The common 2x2/2 case, unrolled: the same first-max rule, 4 reads per output.
      const rowC = inWidth * c;
      for (let b = 0; b < ci.batchSize; b++) {
        for (let oy = 0; oy < outHeight; oy++) {
          for (let ox = 0; ox < outWidth; ox++) {
            const i00 = ((b * inHeight + 2 * oy) * inWidth + 2 * ox) * c,
              dyBase = dyo + ((b * outHeight + oy) * outWidth + ox) * c;
            for (let ch = 0; ch < c; ch++) {
              const p0 = i00 + ch, p1 = p0 + c, p2 = p0 + rowC, p3 = p2 + c;
              // From -∞ with a strict >, as tfjs's cpu backend: no NaN wins.
              let at = -1, best = -Infinity;
              if (H[xo + p0] > best) (best = H[xo + p0]), (at = p0);
              if (H[xo + p1] > best) (best = H[xo + p1]), (at = p1);
              if (H[xo + p2] > best) (best = H[xo + p2]), (at = p2);
              if (H[xo + p3] > best) at = p3;
              if (at >= 0) H[oo + at] += H[dyBase + ch];
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
