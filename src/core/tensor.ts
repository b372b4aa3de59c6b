/**
 * Shape-branded tensors: a phantom brand of named axes on tfjs tensors.
 *
 * `T<["batch", "seq", "dim"]>` is a `tf.Tensor` whose axes are, by contract,
 * batch, seq and dim. The brand costs nothing at run time; it lets the
 * compiler reject a `[batch, seq, dim]` tensor where `[batch, height, width,
 * channels]` is expected. Runtime sizes are checked by {@linkcode checkShape}.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
// No tfjs "running in Node.js" banner for users of any module here.
import "./quiet_tfjs.ts";

declare const axesBrand: unique symbol;

/** A tensor whose axes carry the names `Axes` (a compile-time brand only). */
export type T<Axes extends readonly string[]> = tf.Tensor & {
  readonly [axesBrand]: Readonly<Axes>;
};

/** A scalar tensor. */
export type Scalar = T<[]>;

/** Images in channels-last layout. */
export type Images = T<["batch", "height", "width", "channels"]>;
/** Token sequences. */
export type Tokens = T<["batch", "seq", "dim"]>;
/** Class scores before softmax. */
export type Logits = T<["batch", "classes"]>;

/** Expected sizes per axis: a number, or `null` (or `undefined`) for "any size". */
export type Sizes<Axes extends readonly string[]> = {
  [K in keyof Axes]: number | null | undefined;
};

/**
 * Brand `x` with `axes` after checking its rank and sizes.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand } from "./tensor.ts";
 * const x = brand(tf.zeros([2, 3]), ["batch", "dim"], [2, null]);
 * x.dispose();
 * ```
 */
export function brand<const Axes extends readonly string[]>(
  x: tf.Tensor,
  axes: Axes,
  sizes?: Sizes<Axes>,
): T<Axes> {
  checkShape(x, axes, sizes);
  return x as T<Axes>;
}

/** Brand without checking: for results whose shape follows from the code. */
export function cast<const Axes extends readonly string[]>(
  x: tf.Tensor,
): T<Axes> {
  return x as T<Axes>;
}

/**
 * Throw an error naming both shapes when `x` does not have `axes.length`
 * dimensions of the expected sizes (`null` accepts any size).
 */
export function checkShape(
  x: tf.Tensor,
  axes: readonly string[],
  sizes?: readonly (number | null | undefined)[],
  what = "tensor",
): void {
  const expected = axes.map((a, i) => `${a}=${sizes?.[i] ?? "?"}`).join(", ");
  if (x.rank !== axes.length) {
    throw new Error(
      `Expected ${what} of rank ${axes.length} [${expected}], got shape [${x.shape}]`,
    );
  }
  if (!sizes) return;
  for (let i = 0; i < axes.length; i++) {
    const want = sizes[i];
    if (want !== null && want !== undefined && x.shape[i] !== want) {
      throw new Error(
        `Expected ${what} of shape [${expected}], got shape [${x.shape}] (axis "${axes[i]}" is ${
          x.shape[i]
        }, not ${want})`,
      );
    }
  }
}
