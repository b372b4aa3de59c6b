/**
 * GELU as one SIMD pass forward and one backward on the wasm heap. Written
 * with ops (see `gelu` in `layers/activations.ts`), it costs seven kernels
 * forward and about fifteen backward over the MLP's hidden activations, the
 * largest tensors of a ViT step.
 *
 * @module
 */
import { GELU, GELU_GRAD } from "../../core/ops.ts";
import { type KernelFunc, prod } from "./kernel_common.ts";
import { requireSimd } from "./simd.ts";
import { byteOffset, type WasmBackend } from "./wasm_internals.ts";

/** Input `x` → `gelu(x)`, tanh form. */
export function geluKernel(): KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const y = backend.makeOutput([...x.shape], "float32");
    const n = prod(x.shape);
    if (n > 0) simd.gelu(byteOffset(backend, x), byteOffset(backend, y), n);
    return y;
  };
}

/** Inputs `dy`, `x` → `dy · gelu'(x)`. */
export function geluGradKernel(): KernelFunc {
  return (args) => {
    const { dy, x } = args.inputs;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const dx = backend.makeOutput([...x.shape], "float32");
    const n = prod(x.shape);
    if (n > 0) {
      simd.geluGrad(byteOffset(backend, dy), byteOffset(backend, x), byteOffset(backend, dx), n);
    }
    return dx;
  };
}

/** The two kernels, by name, for `tf.registerKernel` on the wasm backend. */
export function activationKernels(): Array<[string, KernelFunc]> {
  return [[GELU, geluKernel()], [GELU_GRAD, geluGradKernel()]];
}
