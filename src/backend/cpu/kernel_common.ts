/**
 * What every replacement kernel shares: tfjs's kernel signature and a way to
 * swap a registered wasm kernel for ours.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TensorInfo } from "./wasm_internals.ts";

// Kernel attributes and the backend object are untyped in tfjs's kernel API.
export type KernelArgs = {
  inputs: Record<string, TensorInfo>;
  // deno-lint-ignore no-explicit-any
  backend: any;
  // deno-lint-ignore no-explicit-any
  attrs: any;
};
export type KernelFunc = (args: KernelArgs) => TensorInfo | TensorInfo[];

export function replaceKernel(
  name: string,
  make: (original: KernelFunc) => KernelFunc,
): void {
  const config = tf.getKernel(name, "wasm");
  if (!config) throw new Error(`wasm kernel ${name} is not registered`);
  const original = config.kernelFunc as unknown as KernelFunc;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({
    ...config,
    kernelFunc: make(original) as unknown as tf.KernelFunc,
  });
}

/** Product of a shape's sizes. */
export const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);
