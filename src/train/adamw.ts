/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization")
 * with global gradient-norm clipping, written as maps over the parameter tree.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { ADAMW_KERNEL, type AdamWKernelAttrs } from "../core/ops.ts";
import { flatten, mapTree, type ParamTree, unflatten } from "../core/params.ts";

// The fused kernel's name and attributes, where AdamW has always exported them.
export { ADAMW_KERNEL, type AdamWKernelAttrs };

/** Optimizer settings. */
export interface AdamWConfig {
  /** Decay of the first moment. */
  beta1: number;
  /** Decay of the second moment. */
  beta2: number;
  /** Added to the second moment's root, for stability. */
  eps: number;
  /** Decoupled weight decay (none on biases, norms, gammas, tokens, embeddings). */
  weightDecay: number;
  /** Clip the global gradient norm to this; 0 disables. */
  clipNorm: number;
}

/** Defaults used by the ViT and DeiT recipes. */
export const ADAMW_DEFAULTS: AdamWConfig = {
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.05,
  clipNorm: 1,
};

/** First and second moments shaped like the parameters, and the step count. */
export interface AdamWState<P extends ParamTree> {
  /** First moments. */
  m: P;
  /** Second moments. */
  v: P;
  /** Updates applied so far (for bias correction). */
  step: number;
}

/** Zero moments for `params`. */
export function initAdamW<P extends ParamTree>(params: P): AdamWState<P> {
  return {
    m: mapTree(params, (t) => tf.zerosLike(t)),
    v: mapTree(params, (t) => tf.zerosLike(t)),
    step: 0,
  };
}

/**
 * Whether a parameter gets weight decay: weight matrices and conv kernels do;
 * biases, norm scales and shifts, gammas, tokens and embeddings do not.
 */
export function decays(name: string, t: tf.Tensor): boolean {
  return t.rank >= 2 && !/(classToken|posEmbed)$/.test(name);
}

/**
 * The gradients' global sum of squares, as a one-element tensor: one concat
 * of the flattened leaves (split by tfjs to the device's buffer limit) and
 * one reduction, instead of a square and a sum per leaf and an `addN` over
 * all of them (whose WebGPU kernel binds one buffer per leaf).
 */
export function sumOfSquares(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.square(tf.concat(grads.map((g) => tf.reshape(g, [-1]))))));
}

/** The global L2 norm of a list of gradients, as a scalar tensor. */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(sumOfSquares(grads)));
}

/**
 * One AdamW step. Returns new parameters and state and the gradient norm
 * before clipping; disposes nothing it was given (the caller owns those).
 * Runs the backend's fused {@linkcode ADAMW_KERNEL} where it has one, the
 * tensor form otherwise; neither reads anything back to the host.
 */
export function adamwStep<P extends ParamTree>(
  params: P,
  grads: P,
  state: AdamWState<P>,
  lr: number,
  config: AdamWConfig,
): { params: P; state: AdamWState<P>; gradNorm: tf.Scalar } {
  const step = state.step + 1;
  const p = flatten(params), g = flatten(grads).map(([, t]) => t);
  const m = flatten(state.m).map(([, t]) => t),
    v = flatten(state.v).map(([, t]) => t);
  const sumSq = sumOfSquares(g);
  const gradNorm = tf.sqrt(sumSq) as tf.Scalar;
  const bc1 = 1 - config.beta1 ** step, bc2 = 1 - config.beta2 ** step;
  const keep = (name: string, w: tf.Tensor) =>
    decays(name, w) && config.weightDecay > 0 ? 1 - lr * config.weightDecay : 1;
  let updated: tf.Tensor[][];
  if (tf.getKernel(ADAMW_KERNEL, tf.getBackend())) {
    updated = p.map(([name, w], i) => {
      const attrs: AdamWKernelAttrs = {
        lr,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        keep: keep(name, w),
        clipNorm: config.clipNorm,
        bc1,
        bc2,
      };
      return tf.engine().runKernel(
        ADAMW_KERNEL,
        { param: w, grad: g[i], m: m[i], v: v[i], sumSq },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
    });
  } else {
    const clip = tf.tidy(() =>
      config.clipNorm > 0
        ? tf.minimum(1, tf.div(config.clipNorm, tf.add(gradNorm, 1e-6)))
        : tf.scalar(1)
    );
    updated = p.map(([name, w], i) =>
      tf.tidy(() => {
        const gi = tf.mul(g[i], clip);
        const mi = tf.add(tf.mul(m[i], config.beta1), tf.mul(gi, 1 - config.beta1));
        const vi = tf.add(tf.mul(v[i], config.beta2), tf.mul(tf.square(gi), 1 - config.beta2));
        const update = tf.div(tf.div(mi, bc1), tf.add(tf.sqrt(tf.div(vi, bc2)), config.eps));
        return [tf.sub(tf.mul(w, keep(name, w)), tf.mul(update, lr)), mi, vi];
      })
    );
    clip.dispose();
  }
  sumSq.dispose();
  return {
    params: unflatten(params, updated.map((u) => u[0])),
    state: {
      m: unflatten(state.m, updated.map((u) => u[1])),
      v: unflatten(state.v, updated.map((u) => u[2])),
      step,
    },
    gradNorm,
  };
}
