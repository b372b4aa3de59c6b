/**
 * The one place that picks the tfjs backend.
 *
 * - `webgpu`: tfjs-backend-webgpu on `navigator.gpu`.
 * - `fast`: tfjs-backend-wasm with our matmul/conv/slice kernels on a native
 *   BLAS (OpenBLAS, Accelerate) through FFI; without one, a portable
 *   TypeScript sgemm serves only the conv filter gradient wasm lacks.
 * - `wasm`, `cpu`: stock tfjs backends (for comparison; `wasm` cannot train
 *   convolutions, it has no Conv2DBackpropFilter).
 * - `auto`: `webgpu` when the adapter is a real GPU, else `fast`.
 *
 * It is also the one door into `backend/`: the rest of the library and the
 * tasks import what they need of its two rooms (`cpu/`, `webgpu/`) from here.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
// No tfjs "running in Node.js" banner for a program that only picks a backend.
import "../core/quiet_tfjs.ts";
import { pathExists } from "../core/libc.ts";
import { openBlas } from "./cpu/blas.ts";
import { installFastKernels } from "./cpu/fast_kernels.ts";
import { jsSgemm } from "./cpu/js_sgemm.ts";
import {
  type AdapterLike,
  describeAdapter,
  isSoftwareAdapter,
  requestAdapter,
  startWebGPU,
} from "./webgpu/webgpu.ts";

/** Backend names accepted by `--backend`. */
export const BACKEND_NAMES = ["auto", "webgpu", "fast", "wasm", "cpu"] as const;
/** A backend name. */
export type BackendName = typeof BACKEND_NAMES[number];

/** What was chosen, for logs and summaries. */
export interface BackendInfo {
  /** The resolved path: `webgpu`, `fast`, `wasm` or `cpu`. */
  name: Exclude<BackendName, "auto">;
  /** One human-readable line: backend, adapter or BLAS library. */
  description: string;
  /** `webgpu` on a software rasteriser (lavapipe, llvmpipe, SwiftShader). */
  softwareAdapter?: boolean;
}

/** True for software adapters (see {@linkcode describeAdapter}). */
export { isSoftwareAdapter };
/** The parts of a WebGPU adapter that the choice reads. */
export type { AdapterLike };

// The door into backend/ for the rest of the library and the tasks: what they
// need of the two rooms (cpu/, webgpu/) passes here, so nothing outside
// backend/ imports a file inside it but this one. The package's `./backend`
// entry (src/entries/backend.ts) exports only the choice above.

/** The native BLAS (OpenBLAS, Accelerate) through FFI, or null; its thread count. */
export { type Blas, closeBlas, openBlas, type Sgemm } from "./cpu/blas.ts";
/** Run one unit of work (a training step) and throw what the WebGPU device reported in it. */
export { guardWebGPU } from "./webgpu/webgpu_errors.ts";
/** What the WebGPU backend did (dispatches, readbacks, uploads, compiles), and a step's share. */
export { countsBetween, type WebGPUCounts, webgpuCounts } from "./webgpu/webgpu_counters.ts";
/** The WebGPU adapter, and one line about it, without starting the backend. */
export { describeAdapter, requestAdapter };

let chosen: BackendInfo | null = null;

/**
 * Whether a hardware GPU may serve WebGPU here. On Linux a GPU shows as a
 * render node (`/dev/dri/renderD*`), an NVIDIA device (`/dev/nvidia0`) or
 * WSL2's GPU (`/dev/dxg`);
 * without either only a software rasteriser could answer, which `auto`
 * does not use, while asking for it starts its threads for the life of the
 * process (Mesa's llvmpipe: one suspect of the rare crash at exit). Other
 * systems, and a process that may not read `/dev`, are asked.
 */
export function mayHaveGpu(
  os: string = Deno.build.os,
  devices: (dir: string) => string[] | null = listDevices,
): boolean {
  if (os !== "linux") return true;
  const dri = devices("/dev/dri"), dev = devices("/dev");
  if (dri === null && dev === null) return true; // cannot tell
  return (dri ?? []).some((n) => n.startsWith("renderD")) ||
    (dev ?? []).some((n) => /^nvidia\d+$/.test(n) || n === "dxg"); // dxg: WSL2's GPU
}

/** The device names `mayHaveGpu` looks for in each folder. */
const GPU_DEVICES: Record<string, string[]> = {
  "/dev/dri": Array.from({ length: 64 }, (_, i) => `renderD${128 + i}`),
  "/dev": [...Array.from({ length: 16 }, (_, i) => `nvidia${i}`), "dxg"],
};

/**
 * The GPU device names present in `dir`, null when that cannot be told.
 * Deno reads `/dev` only with `--allow-all`, so the tasks (`--allow-read`,
 * `--allow-ffi`) ask libc's access(2) about each candidate name instead.
 */
function listDevices(dir: string): string[] | null {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
  }
  const found: string[] = [];
  for (const name of GPU_DEVICES[dir] ?? []) {
    const present = pathExists(`${dir}/${name}`);
    if (present === null) return null;
    if (present) found.push(name);
  }
  return found;
}

/** What {@linkcode selectBackend} chose in this thread, or null before it ran. */
export function currentBackend(): BackendInfo | null {
  return chosen;
}

/**
 * Set the tfjs backend (once per process; later calls must ask for the same
 * one) and return what was chosen. Prints one line unless `quiet`.
 *
 * @example
 * ```ts
 * import { selectBackend } from "@vision-attention/sa/backend";
 * const backend = await selectBackend("cpu", true); // quiet: no log line
 * console.assert(backend.name === "cpu");
 * ```
 */
export async function selectBackend(
  name: BackendName = "auto",
  quiet = false,
): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(name)) {
    throw new Error(
      `Unknown backend "${name}"; choose one of ${BACKEND_NAMES.join(", ")}`,
    );
  }
  if (chosen) {
    if (name !== "auto" && name !== chosen.name) {
      throw new Error(
        `The backend is already ${chosen.name}; a process uses one backend`,
      );
    }
    return chosen;
  }
  // Before any backend writes a tensor: tfjs's cpu backend otherwise greets
  // every process with "Hi, looks like you are running TensorFlow.js in
  // Node.js..." (PROD only silences tfjs's warnings and logs in 4.22).
  tf.env().set("PROD", true);
  let resolved: BackendInfo["name"];
  let description = "", skipped = "";
  // `auto` asks for an adapter only where a GPU may answer: a software
  // adapter would not be used, and asking starts its threads for good.
  const ask = name === "webgpu" || (name === "auto" && mayHaveGpu());
  const adapter = ask ? await requestAdapter() : null;
  if (name === "webgpu" && !adapter) {
    throw new Error(
      "--backend webgpu: navigator.gpu offers no adapter here; use --backend auto or fast",
    );
  }
  if (adapter && name === "auto" && isSoftwareAdapter(adapter)) {
    skipped = ` (WebGPU adapter "${describeAdapter(adapter)}" is a software rasteriser: not used)`;
  }
  if (name === "auto" || name === "webgpu") {
    resolved = adapter && (name === "webgpu" || !isSoftwareAdapter(adapter)) ? "webgpu" : "fast";
  } else {
    resolved = name;
  }
  if (resolved === "webgpu") {
    const limits = await startWebGPU(adapter!);
    description = `webgpu on ${describeAdapter(adapter!)} (${limits})`;
  } else {
    // Loaded on demand: importing this library registers no backend that
    // needs async start-up, so plain tfjs code keeps working on cpu.
    if (resolved === "fast" || resolved === "wasm") await import("@tensorflow/tfjs-backend-wasm");
    const tfName = resolved === "fast" ? "wasm" : resolved;
    if (!(await tf.setBackend(tfName))) {
      throw new Error(`tfjs could not start its ${tfName} backend`);
    }
    await tf.ready();
  }
  if (resolved === "fast") {
    const blas = openBlas();
    installFastKernels(blas ? blas.sgemm : jsSgemm, { matmul: blas !== null });
    description = blas
      ? `fast CPU path: wasm + native sgemm from ${blas.library}`
      : "fast CPU path without native BLAS (install libopenblas0 for 10x+): wasm + portable kernels";
  } else if (resolved !== "webgpu") {
    description = `stock tfjs ${resolved}`;
  }
  description += skipped;
  chosen = resolved === "webgpu"
    ? { name: resolved, description, softwareAdapter: isSoftwareAdapter(adapter!) }
    : { name: resolved, description };
  if (!quiet) console.error(`backend: ${description}`);
  return chosen;
}
