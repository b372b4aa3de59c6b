/**
 * Data-parallel gradients on a multi-core CPU: worker threads, each with its
 * own tfjs backend, compute some of a step's micro-batches while the main
 * thread computes the rest; their sums meet on the main thread, which takes
 * the one optimizer step. On the fast CPU path much of a step is
 * single-threaded wasm (elementwise kernels, copies, the tape), so a second
 * thread fills the second core.
 *
 * Closing is orderly: each worker releases its tensors and its handle on the
 * native BLAS library itself and says so before its thread ends, and `close`
 * waits for that and then for the thread's end (where it can be seen: Linux,
 * with FFI permission), so the process does not exit while a worker is still
 * tearing down; one that does not answer in time is terminated.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { type BackendName, openBlas } from "../backend/select.ts";
import { openLibc } from "../core/libc.ts";
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
  }
  /** Release what the thread holds (tensors, native BLAS), answer `closed`, and end. */
  | { type: "close" };

/** What a worker answers. */
export type WorkerReply =
  | { type: "ready" }
  /**
   * The answer to `close`: `thread` is the worker thread's kernel id, where
   * it could be read; `message` says what failed to be released, if anything did.
   */
  | { type: "closed"; thread?: number; message?: string }
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

/**
 * The calling thread's kernel id (Linux, with FFI permission), so another
 * thread can wait for it to end; undefined where it cannot be read.
 */
export function currentThreadId(): number | undefined {
  const libc = openLibc();
  try {
    return libc?.symbols.gettid?.() ?? undefined;
  } finally {
    libc?.close();
  }
}

/**
 * Wait until thread `tid` of this process has ended — its last step, after
 * the worker's runtime is gone and the thread's own destructors (native
 * libraries' per-thread buffers) have run — or `timeoutMs` has passed. True
 * once it has ended, false at the timeout, null where it cannot be told.
 */
async function threadEnded(tid: number, timeoutMs: number): Promise<boolean | null> {
  const libc = openLibc();
  const alive = libc?.symbols.tgkill;
  if (!alive) {
    libc?.close();
    return null;
  }
  try {
    const start = performance.now();
    // Signal 0 sends nothing: -1 (ESRCH) once the thread is gone.
    while (alive(Deno.pid, tid, 0) === 0) {
      if (performance.now() - start >= timeoutMs) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
    return true;
  } finally {
    libc.close();
  }
}

/**
 * How long `close` waits for a worker to say it has released what it holds
 * before terminating it: a worker finishes the request under way first (a
 * step's micro-batches; seconds at most), and only a hung one takes longer.
 */
export const CLOSE_TIMEOUT_MS = 10_000;

/**
 * How long `close` then waits for the worker's thread to end (it takes
 * milliseconds: the runtime's teardown) before terminating it.
 */
const THREAD_END_TIMEOUT_MS = 2_000;

/** A worker thread and the one request it may have in flight. */
class GradientWorker {
  #worker: Worker;
  #pending: { resolve(r: WorkerReply): void; reject(e: Error): void } | null = null;
  #failed: Error | null = null;
  /** Set by `close`: resolved by the worker's `closed` or its death. */
  #closed: ((r: Extract<WorkerReply, { type: "closed" }> | Error) => void) | null = null;

  constructor() {
    this.#worker = new Worker(new URL("./gradient_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      if (this.#closed) {
        // Closing: the answer to a request given up on is dropped.
        if (e.data.type === "closed") this.#closed(e.data);
        return;
      }
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
      this.#closed?.(this.#failed);
    };
  }

  request(message: WorkerRequest, transfer: Transferable[] = []): Promise<WorkerReply> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new Error("gradient worker: closed"));
    if (this.#pending) return Promise.reject(new Error("gradient worker: a request is in flight"));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage(message, transfer);
    });
  }

  /**
   * Ask the worker to release what it holds and end, and wait until it says
   * it has (its answer to a request under way comes first, and is dropped).
   * A worker that died, or does not answer in `timeoutMs`, is terminated.
   * Resolves with what went wrong, or null.
   */
  async close(timeoutMs: number): Promise<string | null> {
    this.#pending?.reject(new Error("gradient worker: closed"));
    this.#pending = null;
    if (this.#closed) return null; // closed already
    if (this.#failed) {
      this.#closed = () => {};
      this.#worker.terminate();
      return null;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = await new Promise<Extract<WorkerReply, { type: "closed" }> | Error | null>(
      (resolve) => {
        this.#closed = resolve;
        timer = setTimeout(() => resolve(null), timeoutMs);
        this.#worker.postMessage({ type: "close" } satisfies WorkerRequest);
      },
    );
    clearTimeout(timer);
    if (answer === null) {
      this.#worker.terminate();
      return `no answer to close in ${timeoutMs / 1000} s; terminated`;
    }
    if (answer instanceof Error) {
      this.#worker.terminate();
      return answer.message;
    }
    // The worker ends itself; terminating it now could cut its teardown
    // short. Its thread's end is the last of it: wait for that, where it
    // can be seen, so the process cannot exit while the thread still runs.
    if (answer.thread !== undefined) {
      const ended = await threadEnded(answer.thread, THREAD_END_TIMEOUT_MS);
      if (ended === false) {
        this.#worker.terminate();
        return `its thread still ran ${THREAD_END_TIMEOUT_MS / 1000} s after it closed; terminated`;
      }
    }
    return answer.message ?? null;
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
      // Those that started close as usual; the one that failed answers close too.
      await Promise.all(workers.map((w) => w.close(CLOSE_TIMEOUT_MS)));
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

  /**
   * Stop the workers, in order: each releases its tensors and native BLAS
   * and says so before its thread ends (one that does not within
   * `timeoutMs`, or has died, is terminated). Then native BLAS gets its
   * threads back. Resolves once every worker has answered and its thread
   * has ended (where that can be seen: Linux, with FFI permission), or it
   * has been terminated, so a process that awaits it does not exit while a
   * worker is still tearing down; what went wrong is printed, not thrown
   * (closing happens while a run ends, perhaps with an error of its own).
   */
  async close(timeoutMs: number = CLOSE_TIMEOUT_MS): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    try {
      const problems = await Promise.all(this.#workers.map((w) => w.close(timeoutMs)));
      for (const p of problems) if (p) console.error(`gradient worker: closing: ${p}`);
    } finally {
      leavePool();
    }
  }
}
