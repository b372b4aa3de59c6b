// Gradient workers close in order: each releases its tensors and native BLAS
// itself and answers before its thread ends, and close() waits for that, so
// a process that awaits it never exits while a worker is still tearing down.
import assert from "node:assert/strict";
import { openBlas } from "../../src/backend/cpu/blas.ts";
import { currentBackend } from "../../src/backend/select.ts";
import { leaves, splitBuffers } from "../../src/core/params.ts";
import { Rng } from "../../src/core/rng.ts";
import { modelSpec } from "../../src/models/presets.ts";
import { isCpuBackend } from "../../src/train/config.ts";
import { GradientWorkers } from "../../src/train/gradient_workers.ts";
import { setup } from "../_setup.ts";

await setup();
const backend = currentBackend()!.name;
const ignore = !isCpuBackend(backend); // gradient workers are for the CPU backends

const spec = modelSpec("vit", "tiny");

/** A request of two micro-batches of two images, at fresh parameters. */
function part() {
  const { trainable, buffers } = splitBuffers(spec.init(new Rng(0)));
  return {
    trainable: leaves(trainable),
    buffers: buffers ? leaves(buffers) : null,
    images: new Float32Array(4 * 3072).map((_, i) => Math.sin(i)),
    labels: Int32Array.from([1, 2, 3, 4]),
    seeds: [1, 2],
    labelSmoothing: 0,
    dispose() {
      [...leaves(trainable), ...(buffers ? leaves(buffers) : [])].forEach((t) => t.dispose());
    },
  };
}

/** What `fn` printed to stderr through console.error. */
async function errorsOf(fn: () => Promise<void>): Promise<string[]> {
  const printed: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => printed.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return printed;
}

/**
 * Worker threads of this process (Deno names them worker-N), where
 * /proc/self can be read (it takes --allow-all); null elsewhere.
 */
function workerThreads(): number | null {
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync("/proc/self/task")];
  } catch {
    return null;
  }
  return tasks.filter((t) => {
    try {
      return Deno.readTextFileSync(`/proc/self/task/${t.name}/comm`).startsWith("worker-");
    } catch {
      return false; // ended since the listing
    }
  }).length;
}

/** `C = A·B` of two 2×2 matrices through native BLAS. */
function sgemm2x2(): number[] | null {
  const blas = openBlas();
  if (!blas) return null;
  const c = new Float32Array(4);
  blas.sgemm(
    false,
    false,
    2,
    2,
    2,
    1,
    Float32Array.of(1, 2, 3, 4),
    2,
    Float32Array.of(5, 6, 7, 8),
    2,
    0,
    c,
    2,
  );
  return [...c];
}

Deno.test({
  name:
    "gradient workers: close() waits for each worker to release what it holds; BLAS is the main thread's again",
  ignore,
}, async () => {
  const threadsBefore = openBlas()?.getThreads?.();
  const workers = await GradientWorkers.start(spec, 2, backend);
  const p = part();
  try {
    const sums = await Promise.all([0, 1].map((i) => workers.sums(i, p)));
    assert.ok(sums.every((s) => Number.isFinite(s.value)));
  } finally {
    p.dispose();
  }
  let took = 0;
  const printed = await errorsOf(async () => {
    const start = performance.now();
    await workers.close();
    took = performance.now() - start;
  });
  assert.deepEqual(printed, [], "every worker released its tensors and BLAS without a problem");
  // Where a thread's end can be seen (Linux, FFI), close() waits for it.
  const ffi = Deno.build.os === "linux" &&
    Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  const running = workerThreads();
  if (ffi && running !== null) assert.equal(running, 0, "worker threads still run");
  assert.ok(took < 5000, `close took ${took.toFixed(0)} ms`);
  // The workers closed their own handles on the library: the main thread's still works.
  assert.equal(openBlas()?.getThreads?.(), threadsBefore, "BLAS threads restored");
  const c = sgemm2x2();
  if (c) assert.deepEqual(c, [19, 22, 43, 50]);
  const late = part();
  await assert.rejects(workers.sums(0, late), /gradient worker: closed/);
  late.dispose();
  await workers.close(); // a second close does nothing
});

Deno.test({
  name: "gradient workers: close() during a request gives the request up and waits for the worker",
  ignore,
}, async () => {
  const workers = await GradientWorkers.start(spec, 1, backend);
  const p = part();
  try {
    const gaveUp = assert.rejects(workers.sums(0, p), /gradient worker: closed/);
    const printed = await errorsOf(() => workers.close());
    await gaveUp;
    assert.deepEqual(printed, [], "it answered close after the request under way");
  } finally {
    p.dispose();
  }
});

Deno.test({
  name: "gradient workers: a worker that does not answer close in time is terminated",
  ignore,
}, async () => {
  const workers = await GradientWorkers.start(spec, 1, backend);
  const p = part();
  try {
    const gaveUp = assert.rejects(workers.sums(0, p), /gradient worker: closed/);
    // Busy with its request, it cannot answer within no time at all.
    const printed = await errorsOf(() => workers.close(0));
    await gaveUp;
    assert.equal(printed.length, 1, printed.join("\n"));
    assert.match(printed[0], /gradient worker: closing: no answer to close in 0 s; terminated/);
  } finally {
    p.dispose();
  }
});
