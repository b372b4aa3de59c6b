/**
 * Scaled dot-product attention as one kernel forward and one backward, per
 * (image, head): `S = q kᵀ / √d` by sgemm straight into the weights, a SIMD
 * softmax over its rows while they are in cache, then `P v`. The backward
 * pass takes the saved weights `P`: `dv = Pᵀ dO`, `dP = dO vᵀ`, the softmax
 * gradient in place, `dq = dS k`, `dk = dSᵀ q`. With ops the same is two
 * batched matmuls, a scale and a softmax forward and a dozen kernels
 * backward, each a pass over `[B, H, N, N]`.
 *
 * @module
 */
import { ATTENTION, ATTENTION_GRAD } from "../../core/ops.ts";
import type { Sgemm } from "./blas.ts";
import type { KernelFunc } from "./kernel_common.ts";
import { requireSimd } from "./simd.ts";
import {
  floatOffset,
  heapF32,
  scratch,
  type TensorInfo,
  type WasmBackend,
} from "./wasm_internals.ts";

/** Sizes of q `[B, H, nq, d]`, k `[B, H, nk, d]`, v `[B, H, nk, dv]`. */
function sizes(q: TensorInfo, k: TensorInfo, v: TensorInfo) {
  const [b, h, nq, d] = q.shape, nk = k.shape[2], dv = v.shape[3];
  if (
    q.shape.length !== 4 || k.shape.length !== 4 || v.shape.length !== 4 ||
    k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== d ||
    v.shape[0] !== b || v.shape[1] !== h || v.shape[2] !== nk
  ) {
    throw new Error(`attention: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not fit`);
  }
  return { pairs: b * h, b, h, nq, nk, d, dv, scale: 1 / Math.sqrt(d) };
}

/** Inputs `q`, `k`, `v` → outputs `softmax(q kᵀ/√d) v` and the weights `P`. */
export function attentionKernel(sgemm: Sgemm): KernelFunc {
  return (args) => {
    const { q, k, v } = args.inputs;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const { pairs, b, h, nq, nk, d, dv, scale } = sizes(q, k, v);
    const out = backend.makeOutput([b, h, nq, dv], "float32"),
      weights = backend.makeOutput([b, h, nq, nk], "float32");
    if (pairs * nq === 0) return [out, weights];
    const H = heapF32(backend);
    const qo = floatOffset(backend, q), ko = floatOffset(backend, k), vo = floatOffset(backend, v);
    const oo = floatOffset(backend, out), po = floatOffset(backend, weights);
    if (nk === 0) {
      H.fill(0, oo, oo + pairs * nq * dv); // attention over nothing: zeros, as the ops give
      return [out, weights];
    }
    for (let i = 0; i < pairs; i++) {
      const p = po + i * nq * nk;
      if (d > 0) {
        sgemm(
          false,
          true,
          nq,
          nk,
          d,
          scale,
          H.subarray(qo + i * nq * d),
          d,
          H.subarray(ko + i * nk * d),
          d,
          0,
          H.subarray(p),
          nk,
        );
      } else H.fill(0, p, p + nq * nk);
      simd.softmaxRows(p * 4, nq, nk);
      if (dv > 0) {
        sgemm(
          false,
          false,
          nq,
          dv,
          nk,
          1,
          H.subarray(p),
          nk,
          H.subarray(vo + i * nk * dv),
          dv,
          0,
          H.subarray(oo + i * nq * dv),
          dv,
        );
      }
    }
    return [out, weights];
  };
}

/** Inputs `dy`, `q`, `k`, `v`, `weights` → `dq`, `dk`, `dv`. */
export function attentionGradKernel(sgemm: Sgemm): KernelFunc {
  return (args) => {
    const { dy, q, k, v, weights } = args.inputs;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const { pairs, nq, nk, d, dv, scale } = sizes(q, k, v);
    const dq = backend.makeOutput([...q.shape], "float32"),
      dk = backend.makeOutput([...k.shape], "float32"),
      dV = backend.makeOutput([...v.shape], "float32");
    if (pairs === 0) return [dq, dk, dV];
    const ds = scratch(backend, Math.max(1, nq * nk));
    try {
      const H = heapF32(backend);
      const at = (t: TensorInfo) => floatOffset(backend, t);
      const go = at(dy), qo = at(q), ko = at(k), vo = at(v), po = at(weights);
      const dqo = at(dq), dko = at(dk), dvo = at(dV);
      const S = H.subarray(ds.offset);
      for (let i = 0; i < pairs; i++) {
        const P = H.subarray(po + i * nq * nk), G = H.subarray(go + i * nq * dv);
        const Q = H.subarray(qo + i * nq * d), K = H.subarray(ko + i * nk * d);
        // Empty products leave their outputs unwritten: zero them first.
        if (nq === 0 || nk === 0 || dv === 0) {
          H.fill(0, dqo + i * nq * d, dqo + (i + 1) * nq * d);
          H.fill(0, dko + i * nk * d, dko + (i + 1) * nk * d);
          H.fill(0, dvo + i * nk * dv, dvo + (i + 1) * nk * dv);
          continue;
        }
        sgemm(true, false, nk, dv, nq, 1, P, nk, G, dv, 0, H.subarray(dvo + i * nk * dv), dv);
        sgemm(false, true, nq, nk, dv, 1, G, dv, H.subarray(vo + i * nk * dv), dv, 0, S, nk);
        simd.softmaxGradRows((po + i * nq * nk) * 4, ds.offset * 4, nq, nk, scale);
        if (d > 0) {
          sgemm(false, false, nq, d, nk, 1, S, nk, K, d, 0, H.subarray(dqo + i * nq * d), d);
          sgemm(true, false, nk, d, nq, 1, S, nk, Q, d, 0, H.subarray(dko + i * nk * d), d);
        }
      }
    } finally {
      ds.free();
    }
    return [dq, dk, dV];
  };
}

/** The two kernels, by name, for `tf.registerKernel` on the wasm backend. */
export function attentionKernels(sgemm: Sgemm): Array<[string, KernelFunc]> {
  return [[ATTENTION, attentionKernel(sgemm)], [
    ATTENTION_GRAD,
    attentionGradKernel(sgemm),
  ]];
}
