/**
 * Layer norm as two fused kernels on the wasm heap, forward and gradient,
 * each one pass per row in JavaScript: the op-by-op layer norm costs about
 * nine kernels forward and twenty backward (two of them `ones` tensors of the
 * input's shape that tfjs builds in JavaScript for `mean`'s gradient), each
 * a full pass over memory. Statistics accumulate in float64.
 *
 * @module
 */
import { LAYER_NORM, LAYER_NORM_GRAD } from "../layers/norm.ts";
import { type KernelFunc, prod } from "./kernel_common.ts";
import { floatOffset, heapF32, type TensorInfo, type WasmBackend } from "./wasm_internals.ts";

/** Rows and row length of an input whose last axis is normalised. */
function rowsOf(x: TensorInfo): [number, number] {
  const d = x.shape[x.shape.length - 1];
  return [prod(x.shape) / d, d];
}

/**
 * Inputs `x`, `scale`, `shift`; attr `eps`. Outputs `y`, the normalised
 * `x̂ = (x - μ)/√(σ² + eps)` (same shape) and `1/√(σ² + eps)` (the shape of
 * `x` with a last axis of 1), which the gradient reads.
 */
export const layerNormKernel: KernelFunc = (args) => {
  const { inputs: { x, scale, shift }, attrs: { eps } } = args;
  const backend = args.backend as WasmBackend;
  const [rows, d] = rowsOf(x);
  const y = backend.makeOutput([...x.shape], "float32"),
    xhat = backend.makeOutput([...x.shape], "float32"),
    rstd = backend.makeOutput([...x.shape.slice(0, -1), 1], "float32");
  const H = heapF32(backend);
  const xo = floatOffset(backend, x),
    so = floatOffset(backend, scale),
    bo = floatOffset(backend, shift),
    yo = floatOffset(backend, y),
    ho = floatOffset(backend, xhat),
    ro = floatOffset(backend, rstd);
  for (let r = 0; r < rows; r++) {
    const base = r * d;
    let sum = 0;
    for (let j = 0; j < d; j++) sum += H[xo + base + j];
    const mean = sum / d;
    let squares = 0;
    for (let j = 0; j < d; j++) {
      const c = H[xo + base + j] - mean;
      squares += c * c;
    }
    const rs = 1 / Math.sqrt(squares / d + eps);
    H[ro + r] = rs;
    for (let j = 0; j < d; j++) {
      const n = (H[xo + base + j] - mean) * rs;
      H[ho + base + j] = n;
      H[yo + base + j] = n * H[so + j] + H[bo + j];
    }
  }
  return [y, xhat, rstd];
};

/**
 * Inputs `dy`, `xhat`, `rstd`, `scale` (see {@linkcode layerNormKernel});
 * outputs `dx = r·(g - mean(g) - x̂·mean(g·x̂))` with `g = dy·scale`, and
 * `dscale = Σ dy·x̂`, `dshift = Σ dy` over every row.
 */
export const layerNormGradKernel: KernelFunc = (args) => {
  const { inputs: { dy, xhat, rstd, scale } } = args;
  const backend = args.backend as WasmBackend;
  const [rows, d] = rowsOf(dy);
  const dx = backend.makeOutput([...dy.shape], "float32"),
    dScale = backend.makeOutput([d], "float32"),
    dShift = backend.makeOutput([d], "float32");
  const H = heapF32(backend);
  const go = floatOffset(backend, dy),
    ho = floatOffset(backend, xhat),
    ro = floatOffset(backend, rstd),
    so = floatOffset(backend, scale),
    xo = floatOffset(backend, dx);
  const sumScale = new Float64Array(d), sumShift = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const base = r * d;
    let meanG = 0, meanGX = 0;
    for (let j = 0; j < d; j++) {
      const g = H[go + base + j] * H[so + j], n = H[ho + base + j];
      meanG += g;
      meanGX += g * n;
      sumScale[j] += H[go + base + j] * n;
      sumShift[j] += H[go + base + j];
    }
    meanG /= d;
    meanGX /= d;
    const rs = H[ro + r];
    for (let j = 0; j < d; j++) {
      const g = H[go + base + j] * H[so + j];
      H[xo + base + j] = rs * (g - meanG - H[ho + base + j] * meanGX);
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
