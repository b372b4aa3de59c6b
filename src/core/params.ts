/**
 * Parameter records: a model's parameters are a plain nested record of
 * tensors. These helpers walk such trees: map, flatten to stable dotted names
 * and back, count, dispose, and make initial values from a seeded {@linkcode Rng}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "./rng.ts";

/** A nested record (or array) whose leaves are tensors. */
export type ParamTree =
  | tf.Tensor
  | { readonly [key: string]: ParamTree }
  | readonly ParamTree[];

function isTensor(x: unknown): x is tf.Tensor {
  return x instanceof tf.Tensor;
}

/**
 * Flatten a tree to `[dottedName, tensor]` pairs in a stable order (record
 * keys sorted, array items by index), e.g. `blocks.0.attn.qkv.w`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { flatten } from "./params.ts";
 * const tree = { head: { w: tf.zeros([2, 2]), b: tf.zeros([2]) } };
 * console.assert(flatten(tree).map(([name]) => name).join() === "head.b,head.w");
 * ```
 */
export function flatten(tree: ParamTree, prefix = ""): [string, tf.Tensor][] {
  if (isTensor(tree)) return [[prefix, tree]];
  const out: [string, tf.Tensor][] = [];
  const keys = Array.isArray(tree) ? tree.map((_, i) => String(i)) : Object.keys(tree).sort();
  for (const k of keys) {
    const child = (tree as Record<string, ParamTree>)[k];
    out.push(...flatten(child, prefix ? `${prefix}.${k}` : k));
  }
  return out;
}

/** The leaves of `tree`, in the order of {@linkcode flatten}. */
export function leaves(tree: ParamTree): tf.Tensor[] {
  return flatten(tree).map(([, t]) => t);
}

/**
 * Rebuild a tree shaped like `template` from leaves in {@linkcode flatten}
 * order. Throws when the count differs.
 */
export function unflatten<P extends ParamTree>(
  template: P,
  values: readonly tf.Tensor[],
): P {
  let i = 0;
  const build = (node: ParamTree): ParamTree => {
    if (isTensor(node)) {
      if (i >= values.length) {
        throw new Error(
          `unflatten: got ${values.length} leaves, the template has more`,
        );
      }
      return values[i++];
    }
    if (Array.isArray(node)) return node.map(build);
    const rec = node as Record<string, ParamTree>;
    const out: Record<string, ParamTree> = {};
    for (const k of Object.keys(rec).sort()) out[k] = build(rec[k]);
    return out;
  };
  const result = build(template);
  if (i !== values.length) {
    throw new Error(
      `unflatten: got ${values.length} leaves, the template has ${i}`,
    );
  }
  return result as P;
}

/** Apply `fn` to every leaf (with its dotted name), keeping the structure. */
export function mapTree<P extends ParamTree>(
  tree: P,
  fn: (t: tf.Tensor, name: string) => tf.Tensor,
): P {
  return unflatten(tree, flatten(tree).map(([n, t]) => fn(t, n)));
}

/**
 * The top-level key under which a model keeps buffers: tensors it needs to
 * evaluate but that gradients do not train (a batch norm's population
 * statistics). Training splits them off with {@linkcode splitBuffers}.
 */
export const BUFFERS_KEY = "stats";

/** `{ trainable, buffers }`: the tree without its buffers, and the buffers (or null). */
export function splitBuffers<P extends ParamTree>(
  tree: P,
): { trainable: ParamTree; buffers: ParamTree | null } {
  if (tree instanceof tf.Tensor || Array.isArray(tree) || !(BUFFERS_KEY in tree)) {
    return { trainable: tree, buffers: null };
  }
  const { [BUFFERS_KEY]: buffers, ...trainable } = tree as Record<string, ParamTree>;
  return { trainable, buffers };
}

/** `trainable` with `buffers` put back under {@linkcode BUFFERS_KEY}. */
export function withBuffers<P extends ParamTree>(
  trainable: ParamTree,
  buffers: ParamTree | null,
): P {
  return (buffers === null ? trainable : { ...(trainable as object), [BUFFERS_KEY]: buffers }) as P;
}

/** Total number of trained scalar parameters (buffers not counted). */
export function countParams(tree: ParamTree): number {
  return leaves(splitBuffers(tree).trainable).reduce((s, t) => s + t.size, 0);
}

/** Dispose every leaf. */
export function disposeTree(tree: ParamTree): void {
  for (const t of leaves(tree)) t.dispose();
}

/** Normal values with standard deviation `std`, truncated at 2 std (as ViT does). */
export function truncNormal(rng: Rng, shape: number[], std: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = rng.normal();
    while (Math.abs(z) > 2) z = rng.normal();
    data[i] = z * std;
  }
  return tf.tensor(data, shape, "float32");
}

/** He (fan-in) initialisation for weights feeding a ReLU/GELU. */
export function heNormal(rng: Rng, shape: number[], fanIn: number): tf.Tensor {
  return truncNormal(rng, shape, Math.sqrt(2 / fanIn));
}

/** A tensor of zeros. */
export function zeros(shape: number[]): tf.Tensor {
  return tf.zeros(shape, "float32");
}

/** A tensor of ones. */
export function ones(shape: number[]): tf.Tensor {
  return tf.ones(shape, "float32");
}
