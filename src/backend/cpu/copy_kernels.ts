/**
 * Copy kernels that stay inside the wasm heap: slice, split, concat, and an
 * identity that shares its input's data.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type KernelFunc, prod } from "./kernel_common.ts";
import { floatOffset, heapF32, type TensorInfo, type WasmBackend } from "./wasm_internals.ts";

/** Slice by copying contiguous runs inside the heap (the stock kernel copies the whole input out first). */
export function slice(original: KernelFunc): KernelFunc {
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

export function splitV(sliceKernel: KernelFunc): (original: KernelFunc) => KernelFunc {
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
export function identity(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs: { x }, backend } = args;
    if (x.dtype === "string") return original(args);
    return share(backend, x);
  };
}

/**
 * A cast to the tensor's own dtype shares its data instead of copying it.
 * tfjs's gradients cast as a matter of course (the gradient of every
 * multiply casts both inputs to float32): about 100 full-size copies per
 * ViT training step with the stock kernel. Real conversions stay stock.
 */
export function cast(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs: { x }, attrs: { dtype }, backend } = args;
    if (x.dtype !== dtype || x.dtype === "string") return original(args);
    return share(backend, x);
  };
}

/** A new tensor on `x`'s data; the backend's reference count keeps the data alive. */
function share(backend: { incRef(dataId: unknown): void }, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** Concat by copying contiguous runs inside the heap. */
export function concat(original: KernelFunc): KernelFunc {
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
