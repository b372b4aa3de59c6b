/**
 * Attention heads split from and merged into token rows by one copy pass
 * each: `[B, N, parts·H·dh]` to `parts` tensors `[B, H, N, dh]` and back.
 * With ops, the split of the fused q/k/v projection is a SplitV and three
 * transposes forward and three transposes and a Concat backward.
 *
 * @module
 */
import { type HeadsKernelAttrs, MERGE_HEADS, SPLIT_HEADS } from "../../core/ops.ts";
import type { KernelFunc } from "./kernel_common.ts";
import { requireSimd, type SimdKernels } from "./simd.ts";
import { byteOffset, type TensorInfo, type WasmBackend } from "./wasm_internals.ts";

/** Copies between the fused tensor and its parts, three parts per pass. */
function copyParts(
  simd: SimdKernels,
  backend: WasmBackend,
  fused: TensorInfo,
  parts: TensorInfo[],
  [b, n, count, h, dh]: number[],
  merge: 0 | 1,
): void {
  const at = parts.map((t) => byteOffset(backend, t));
  for (let first = 0; first < count; first += 3) {
    const k = Math.min(3, count - first);
    const [d0, d1 = 0, d2 = 0] = at.slice(first, first + k);
    simd.splitHeads(byteOffset(backend, fused), d0, d1, d2, k, first, b, n, count, h, dh, merge);
  }
}

/** Input `x` `[B, N, parts·H·dh]`, attrs `parts`, `heads` → `parts` × `[B, H, N, dh]`. */
export function splitHeadsKernel(): KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    const { parts, heads } = args.attrs as HeadsKernelAttrs;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const [b, n, width] = x.shape;
    const dh = width / (parts * heads);
    if (x.shape.length !== 3 || !Number.isInteger(dh)) {
      throw new Error(
        `splitHeads: [${x.shape}] does not split into ${parts} parts of ${heads} heads`,
      );
    }
    const outs: TensorInfo[] = [];
    for (let p = 0; p < parts; p++) outs.push(backend.makeOutput([b, heads, n, dh], "float32"));
    if (b * n * dh > 0) copyParts(simd, backend, x, outs, [b, n, parts, heads, dh], 0);
    return outs;
  };
}

/** Inputs `0`…`parts-1`, each `[B, H, N, dh]` → `[B, N, parts·H·dh]` (attrs `parts`, `heads`). */
export function mergeHeadsKernel(): KernelFunc {
  return (args) => {
    const { parts, heads } = args.attrs as HeadsKernelAttrs;
    const backend = args.backend as WasmBackend;
    const simd = requireSimd(backend);
    const first = args.inputs["0"];
    const [b, h, n, dh] = first.shape;
    if (h !== heads) throw new Error(`mergeHeads: [${first.shape}] has ${h} heads, not ${heads}`);
    const out = backend.makeOutput([b, n, parts * h * dh], "float32");
    const ins: TensorInfo[] = [];
    for (let p = 0; p < parts; p++) {
      const part = args.inputs[String(p)];
      if (part.shape.join() !== first.shape.join()) {
        throw new Error(`mergeHeads: part ${p} is [${part.shape}], part 0 [${first.shape}]`);
      }
      ins.push(part);
    }
    if (b * n * dh > 0) copyParts(simd, backend, out, ins, [b, n, parts, h, dh], 1);
    return out;
  };
}

/** The two kernels, by name, for `tf.registerKernel` on the wasm backend. */
export function headKernels(): Array<[string, KernelFunc]> {
  return [[SPLIT_HEADS, splitHeadsKernel()], [MERGE_HEADS, mergeHeadsKernel()]];
}
