/**
 * What both backend rooms (`cpu/`, `webgpu/`) assume of tfjs: the version
 * their kernels were written against, and a kernel's view of a tensor. Each
 * room checks its own backend's internals against {@linkcode PINNED_TFJS}.
 *
 * @module
 */

/** The tfjs version the kernels were written against. */
export const PINNED_TFJS = "4.22.0";

/** A kernel's view of a tensor. */
export interface TensorInfo {
  dataId: unknown;
  shape: number[];
  dtype: string;
}
