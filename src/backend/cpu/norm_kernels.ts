/**
 * Layer norm and training's batch norm as fused SIMD kernels on the wasm
 * heap, forward and gradient. Layer norm: the op-by-op layer norm costs about nine kernels forward and
 * twenty backward (two of them `ones` tensors of the input's shape that tfjs
 * builds in JavaScript for `mean`'s gradient), each a full pass over memory.
 * The forward writes `y` and each row's statistics; the gradient recomputes
 * `x̂` from them instead of keeping a second activation-sized tensor. Batch
 * norm with the batch's statistics: about eight kernels forward and fifteen
 * backward (moments, broadcasts, their gradients), 16% of a CNN-SA `hour`
 * step with the biases' adds, now two passes forward (three reads) and two
 * backward.
 *
 * @module
 */
import {
  BATCH_NORM,
  BATCH_NORM_GRAD,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  type NormKernelAttrs,
} from "../../core/ops.ts";
import { type KernelFunc, prod } from "./kernel_common.ts";
import { requireSimd, type SimdKernels } from "./simd.ts";
import {
  byteOffset,
  floatOffset,
  heapF32,
  scratch,
  type TensorInfo,
  type WasmBackend,
} from "./wasm_internals.ts";

/** Rows and row length of an input whose last axis is normalised. */
function rowsOf(x: TensorInfo): [number, number] {
  const d = x.shape[x.shape.length - 1];
  return [d === 0 ? 0 : prod(x.shape) / d, d];
}

/**
 * Inputs `x`, `scale`, `shift`; attr `eps`. Outputs `y`, and per row the mean
 * and `1/√(σ² + eps)` (the shape of `x` with a last axis of 1), which the
 * gradient reads with `x`.
 */
export function layerNormKernel(): KernelFunc {
  return (args) => {
    const { x, scale, shift } = args.inputs;
    const { eps } = args.attrs as NormKernelAttrs;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const [rows, d] = rowsOf(x);
    const stats = [...x.shape.slice(0, -1), 1];
    const y = backend.makeOutput([...x.shape], "float32"),
      mean = backend.makeOutput(stats, "float32"),
      rstd = backend.makeOutput(stats, "float32");
    if (rows === 0) return [y, mean, rstd];
    const at = (t: TensorInfo) => byteOffset(backend, t);
    simd.layerNorm(at(x), at(scale), at(shift), at(y), at(mean), at(rstd), rows, d, eps);
    return [y, mean, rstd];
  };
}

/**
 * Inputs `dy`, `x`, `mean`, `rstd`, `scale` (see {@linkcode layerNormKernel});
 * outputs `dx = r·(g - mean(g) - x̂·mean(g·x̂))` with `g = dy·scale` and
 * `x̂ = (x - μ)·r`, and `dscale = Σ dy·x̂`, `dshift = Σ dy` over every row
 * (float64 totals of float32 blocks).
 */
export function layerNormGradKernel(): KernelFunc {
  return normGradKernel((simd) => simd.layerNormGrad);
}

/**
 * A norm's gradient kernel: inputs `dy`, `x`, `mean`, `rstd`, `scale`;
 * outputs `dx`, and `dscale`, `dshift` over the last axis; `grad` is the SIMD
 * function (layer norm: statistics per row; batch norm: per channel).
 */
function normGradKernel(grad: (simd: SimdKernels) => SimdKernels["layerNormGrad"]): KernelFunc {
  return (args) => {
    const { inputs: { dy, x, mean, rstd, scale } } = args;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const [rows, d] = rowsOf(dy);
    const dx = backend.makeOutput([...dy.shape], "float32"),
      dScale = backend.makeOutput([d], "float32"),
      dShift = backend.makeOutput([d], "float32");
    // float64 totals (4d floats, first: 8-byte aligned) then float32 block sums (2d floats).
    const work = scratch(backend, 6 * d);
    try {
      const at = (t: TensorInfo) => byteOffset(backend, t);
      const total = work.offset * 4, acc = total + 16 * d;
      grad(simd)(
        at(dy),
        at(x),
        at(mean),
        at(rstd),
        at(scale),
        at(dx),
        at(dScale),
        at(dShift),
        rows,
        d,
        acc,
        total,
      );
    } finally {
      work.free();
    }
    return [dx, dScale, dShift];
  };
}

/**
 * Inputs `x` (`[..., C]`), `scale`, `shift`; attr `eps`. Outputs `y`, and per
 * channel the batch mean and `1/√(σ² + eps)` over every other axis (`[C]`),
 * which the gradient reads with `x`.
 */
export function batchNormKernel(): KernelFunc {
  return (args) => {
    const { x, scale, shift } = args.inputs;
    const { eps } = args.attrs as NormKernelAttrs;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const [rows, d] = rowsOf(x);
    const y = backend.makeOutput([...x.shape], "float32"),
      mean = backend.makeOutput([d], "float32"),
      rstd = backend.makeOutput([d], "float32");
    if (rows === 0) {
      // No rows: the moments of nothing are 0 (as tf.moments and batchMoments give), and the
      // wasm loop would divide by zero.
      const H = heapF32(backend), m = floatOffset(backend, mean), r = floatOffset(backend, rstd);
      H.fill(0, m, m + d);
      H.fill(1 / Math.sqrt(eps as number), r, r + d);
      return [y, mean, rstd];
    }
    // float64 totals (2d floats, first: 8-byte aligned) then a float32 block sum (d floats).
    const work = scratch(backend, 3 * d);
    try {
      const at = (t: TensorInfo) => byteOffset(backend, t);
      const total = work.offset * 4, acc = total + 8 * d;
      simd.batchNorm(
        at(x),
        at(scale),
        at(shift),
        at(y),
        at(mean),
        at(rstd),
        rows,
        d,
        eps,
        acc,
        total,
      );
    } finally {
      work.free();
    }
    return [y, mean, rstd];
  };
}

/**
 * Inputs `dy`, `x`, `mean`, `rstd`, `scale` (see {@linkcode batchNormKernel});
 * outputs `dx = scale·r·(dy - Σdy/N - x̂·Σ(dy·x̂)/N)` with `x̂ = (x - μ)·r` and
 * N the rows, `dscale = Σ dy·x̂` and `dshift = Σ dy` (float64 totals of
 * float32 blocks).
 */
export function batchNormGradKernel(): KernelFunc {
  return normGradKernel((simd) => simd.batchNormGrad);
}

/** The four kernels, by name, for `tf.registerKernel` on the wasm backend. */
export function normKernels(): Array<[string, KernelFunc]> {
  return [
    [LAYER_NORM, layerNormKernel()],
    [LAYER_NORM_GRAD, layerNormGradKernel()],
    [BATCH_NORM, batchNormKernel()],
    [BATCH_NORM_GRAD, batchNormGradKernel()],
  ];
}
