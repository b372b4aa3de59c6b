/**
 * Wall-clock time per tfjs kernel, measured by wrapping every kernel the
 * active backend registers. tfjs's own `tf.profile()` times kernels the
 * same way, but keeps a record per call (input and output shapes, memory
 * snapshots, two promises), some 2,000 per training step here: that
 * bookkeeping lands in the time outside kernels, which is a figure we want
 * to see. A wrapper keeps one count and one sum per kernel name.
 *
 * On the CPU backends (wasm, the fast path, cpu) kernels run synchronously,
 * so a kernel's time is its compute time. On WebGPU it is only the time to
 * record and submit the work.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Calls and total milliseconds of one kernel (or one kernel at one input shape). */
export interface KernelStat {
  /** The kernel's name, followed by its input shapes when timed `byShape`. */
  name: string;
  count: number;
  ms: number;
}

/** A running timer; {@linkcode KernelTimer.stop} restores the kernels. */
export interface KernelTimer {
  /** Clear the counts (after a warm-up, say). */
  reset(): void;
  /** Stats so far, slowest first, without kernels that were never called. */
  read(): KernelStat[];
  /** Restore the original kernels and return the stats. */
  stop(): KernelStat[];
}

/**
 * Time every kernel of the active backend until `stop()`; with `byShape`,
 * each kernel at each combination of input shapes separately (as
 * `BatchMatMul [256,65,128] [128,384]`). Kernels that call other registered
 * kernels count once, at the outermost call, so the stats add up to the
 * time spent inside kernels.
 */
export function timeKernels(options: { byShape?: boolean } = {}): KernelTimer {
  const backendName = tf.getBackend();
  const originals = tf.getKernelsForBackend(backendName);
  const stats = new Map<string, KernelStat>();
  const statOf = (name: string, inputs: tf.NamedTensorInfoMap) => {
    const key = options.byShape
      ? `${name} ${Object.values(inputs).map((t) => `[${t?.shape ?? ""}]`).join(" ")}`
      : name;
    let stat = stats.get(key);
    if (!stat) stats.set(key, stat = { name: key, count: 0, ms: 0 });
    return stat;
  };
  let depth = 0;
  for (const config of originals) {
    const inner = config.kernelFunc;
    const timed: tf.KernelFunc = (args) => {
      if (depth > 0) return inner(args);
      depth++;
      const start = performance.now();
      try {
        return inner(args);
      } finally {
        const stat = statOf(config.kernelName, args.inputs);
        stat.ms += performance.now() - start;
        stat.count++;
        depth--;
      }
    };
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({ ...config, kernelFunc: timed });
  }
  const read = () =>
    [...stats.values()].filter((s) => s.count > 0).map((s) => ({ ...s })).sort((a, b) =>
      b.ms - a.ms
    );
  let stopped = false;
  return {
    reset() {
      stats.clear();
    },
    read,
    stop() {
      if (!stopped) {
        for (const config of originals) {
          tf.unregisterKernel(config.kernelName, backendName);
          tf.registerKernel(config);
        }
        stopped = true;
      }
      return read();
    },
  };
}
