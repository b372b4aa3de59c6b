/**
 * Data-parallel gradients on a multi-core CPU: worker threads, each with its
 * own tfjs backend, compute some of a step's micro-batches while the main
 * thread computes the rest; their sums meet on the main thread, which takes
 * the one optimizer step. On the fast CPU path much of a step is
 * single-threaded wasm (elementwise kernels, copies, the tape), so a second
 * thread fills the second core.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { type BackendName, openBlas } from "../backend/select.ts";
import type { ModelSpec } from "../models/presets.ts";

/** What the main thread asks of a worker. */
export type WorkerRequest =
  | {
    type: "init";
    kind: ModelSpec["kind"];
    preset: string;
    config: ModelSpec["config"];
    backend: Exclude<BackendName, "auto" | "webgpu">;
  }
  | {
    type: "grads";
    id: number;
    /** The trainable leaves, in `leaves()` order. */
    trainable: Float32Array[];
    buffers: Float32Array[] | null;
    /** The worker's micro-batches, one after another: `seeds.length` equal parts. */
    images: Float32Array;
    labels: Int32Array;
    /** One dropout seed per micro-batch. */
    seeds: number[];
    labelSmoothing: number;
  };

/** What a worker answers. */
export type WorkerReply =
  | { type: "ready" }
  | { type: "grads"; id: number; value: number; correct: number; grads: Float32Array[] }
  | { type: "error"; id: number; message: string };

/** Sums over a worker's micro-batches. */
export interface WorkerSums {
  /** Sum of the micro-batches' mean losses. */
  value: number;
  /** Correctly classified images over the micro-batches. */
  correct: number;
  /** Sum of the micro-batches' mean-loss gradients, in leaf order. */
  grads: Float32Array[];
}

/**
 * Native BLAS threads while any workers run: one per training thread. Several
 * pools may overlap (tests); the first to start saves the count and the last
 * to close restores it.
 */
const blasThreads = { pools: 0, saved: null as number | null };

function enterPool() {
  const blas = openBlas();
  if (blasThreads.pools++ === 0) blasThreads.saved = blas?.getThreads?.() ?? null;
  blas?.setThreads?.(1);
}

function leavePool() {
  if (--blasThreads.pools === 0 && blasThreads.saved !== null) {
    openBlas()?.setThreads?.(blasThreads.saved);
  }
}

/** A worker thread and the one request it may have in flight. */
class GradientWorker {
  #worker: Worker;
  #pending: { resolve(r: WorkerReply): void; reject(e: Error): void } | null = null;
  #failed: Error | null = null;

  constructor() {
    this.#worker = new Worker(new URL("./gradient_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      const p = this.#pending;
      this.#pending = null;
      if (e.data.type === "error") p?.reject(new Error(`gradient worker: ${e.data.message}`));
      else p?.resolve(e.data);
    };
    this.#worker.onmessageerror = () => {
      this.#pending?.reject(new Error("gradient worker: a reply could not be read"));
      this.#pending = null;
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#failed = new Error(`gradient worker died: ${e.message}`);
      this.#pending?.reject(this.#failed);
      this.#pending = null;
    };
  }

  request(message: WorkerRequest, transfer: Transferable[] = []): Promise<WorkerReply> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#pending) return Promise.reject(new Error("gradient worker: a request is in flight"));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage(message, transfer);
    });
  }

  terminate() {
    this.#worker.terminate();
    this.#pending?.reject(new Error("gradient worker: closed"));
    this.#pending = null;
  }
}

/**
 * `count` gradient worker threads for one model; with the main thread they
 * make `count + 1` threads. Close them when training ends.
 */
export class GradientWorkers {
  readonly #workers: GradientWorker[];
  #nextId = 0;
  #open = true;

  private constructor(workers: GradientWorker[]) {
    this.#workers = workers;
    enterPool();
  }

  /** Worker threads besides the main one. */
  get count(): number {
    return this.#workers.length;
  }

  /**
   * Start `count` workers on `backend` (a CPU backend: `fast`, `wasm` or
   * `cpu`) for `spec`. Native BLAS is set to one thread: each training
   * thread already keeps a core busy. Each worker rebuilds the model from
   * `spec.kind` and `spec.config` (`vitSpec`, `cnnSpec`), so a spec with an
   * `apply` of its own must train on one thread.
   */
  static async start(
    spec: ModelSpec,
    count: number,
    backend: string,
  ): Promise<GradientWorkers> {
    if (backend !== "fast" && backend !== "wasm" && backend !== "cpu") {
      throw new Error(
        `--workers needs a CPU backend (fast, wasm or cpu), not ${backend}: ` +
          "on a GPU one thread already keeps the device busy",
      );
    }
    if (!Number.isInteger(count) || count < 1) {
      throw new Error(`gradient workers: count must be a whole number >= 1, got ${count}`);
    }
    const workers = Array.from({ length: count }, () => new GradientWorker());
    try {
      await Promise.all(
        workers.map((w) =>
          w.request({
            type: "init",
            kind: spec.kind,
            preset: spec.preset,
            config: spec.config,
            backend,
          })
        ),
      );
    } catch (e) {
      workers.forEach((w) => w.terminate());
      throw e;
    }
    return new GradientWorkers(workers);
  }

  /**
   * Ask worker `index` for the summed loss, correct count and gradients of
   * its micro-batches (`images`/`labels` hold `seeds.length` equal parts) at
   * `trainable` (leaf order). Resolves when the worker answers.
   */
  async sums(
    index: number,
    part: {
      trainable: tf.Tensor[];
      buffers: tf.Tensor[] | null;
      images: Float32Array;
      labels: Int32Array;
      seeds: number[];
      labelSmoothing: number;
    },
  ): Promise<WorkerSums> {
    const copy = (ts: tf.Tensor[]) =>
      ts.map((t) => Float32Array.from(t.dataSync() as Float32Array));
    const trainable = copy(part.trainable), buffers = part.buffers ? copy(part.buffers) : null;
    const id = this.#nextId++;
    const r = await this.#workers[index].request(
      {
        type: "grads",
        id,
        trainable,
        buffers,
        images: part.images,
        labels: part.labels,
        seeds: part.seeds,
        labelSmoothing: part.labelSmoothing,
      },
      [...trainable, ...(buffers ?? [])].map((a) => a.buffer),
    );
    if (r.type !== "grads" || r.id !== id) throw new Error("gradient worker: unexpected reply");
    return { value: r.value, correct: r.correct, grads: r.grads };
  }

  /** Stop the workers and give native BLAS its threads back. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#workers.forEach((w) => w.terminate());
    leavePool();
  }
}
