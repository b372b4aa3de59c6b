/**
 * Layer norm as two fused kernels on the wasm heap, forward and gradient, in
 * JavaScript: the op-by-op layer norm costs about nine kernels forward and
 * twenty backward (two of them `ones` tensors of the input's shape that tfjs
 * builds in JavaScript for `mean`'s gradient), each a full pass over memory.
 * The forward reads `x` twice and writes `y`; the gradient reads `dy` and `x`
 * twice and writes `dx`, recomputing `x̂` from the saved row statistics
 * instead of keeping a second activation-sized tensor. Sums are float64.
 *
 * @module
 */
import { LAYER_NORM, LAYER_NORM_GRAD } from "../layers/norm.ts";
import { type KernelFunc, prod } from "./kernel_common.ts";
import { floatOffset, heapF32, type TensorInfo, type WasmBackend } from "./wasm_internals.ts";

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
export const layerNormKernel: KernelFunc = (args) => {
  const { inputs: { x, scale, shift }, attrs: { eps } } = args;
  const backend = args.backend as WasmBackend;
  const [rows, d] = rowsOf(x);
  const stats = [...x.shape.slice(0, -1), 1];
  const y = backend.makeOutput([...x.shape], "float32"),
    mean = backend.makeOutput(stats, "float32"),
    rstd = backend.makeOutput(stats, "float32");
  const H = heapF32(backend);
  const xo = floatOffset(backend, x),
    so = floatOffset(backend, scale),
    bo = floatOffset(backend, shift),
    yo = floatOffset(backend, y),
    mo = floatOffset(backend, mean),
    ro = floatOffset(backend, rstd);
  for (let r = 0, row = xo, out = yo; r < rows; r++, row += d, out += d) {
    let sum = 0, squares = 0;
    for (let j = 0; j < d; j++) {
      const v = H[row + j];
      sum += v;
      squares += v * v;
    }
    const mu = sum / d;
    // In float64 the one-pass variance loses nothing that matters for float32 inputs.
    const rs = 1 / Math.sqrt(Math.max(0, squares / d - mu * mu) + eps);
    H[mo + r] = mu;
    H[ro + r] = rs;
    for (let j = 0; j < d; j++) H[out + j] = (H[row + j] - mu) * rs * H[so + j] + H[bo + j];
  }
  return [y, mean, rstd];
};

/**
 * Inputs `dy`, `x`, `mean`, `rstd`, `scale` (see {@linkcode layerNormKernel});
 * outputs `dx = r·(g - mean(g) - x̂·mean(g·x̂))` with `g = dy·scale` and
 * `x̂ = (x - μ)·r`, and `dscale = Σ dy·x̂`, `dshift = Σ dy` over every row.
 */
export const layerNormGradKernel: KernelFunc = (args) => {
  const { inputs: { dy, x, mean, rstd, scale } } = args;
  const backend = args.backend as WasmBackend;
  const [rows, d] = rowsOf(dy);
  const dx = backend.makeOutput([...dy.shape], "float32"),
    dScale = backend.makeOutput([d], "float32"),
    dShift = backend.makeOutput([d], "float32");
  const H = heapF32(backend);
  const go = floatOffset(backend, dy),
    xo = floatOffset(backend, x),
    mo = floatOffset(backend, mean),
    ro = floatOffset(backend, rstd),
    so = floatOffset(backend, scale),
    oo = floatOffset(backend, dx);
  const sumScale = new Float64Array(d), sumShift = new Float64Array(d);
  for (let r = 0, base = 0; r < rows; r++, base += d) {
    const mu = H[mo + r], rs = H[ro + r];
    let meanG = 0, meanGX = 0;
    for (let j = 0; j < d; j++) {
      const g0 = H[go + base + j], n = (H[xo + base + j] - mu) * rs, g = g0 * H[so + j];
      meanG += g;
      meanGX += g * n;
      sumScale[j] += g0 * n;
      sumShift[j] += g0;
    }
    meanG /= d;
    meanGX /= d;
    for (let j = 0; j < d; j++) {
      const n = (H[xo + base + j] - mu) * rs;
      H[oo + base + j] = rs * (H[go + base + j] * H[so + j] - meanG - n * meanGX);
    }
  }
  const sco = floatOffset(backend, dScale), sho = floatOffset(backend, dShift);
  for (let j = 0; j < d; j++) {
    H[sco + j] = sumScale[j];
    H[sho + j] = sumShift[j];
  }
  return [dx, dScale, dShift];
};

/** The two kernels, by name, for `tf.registerKernel` on the wasm backend. */
export const NORM_KERNELS: ReadonlyArray<[string, KernelFunc]> = [
  [LAYER_NORM, layerNormKernel],
  [LAYER_NORM_GRAD, layerNormGradKernel],
];
