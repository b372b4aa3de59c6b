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
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { openBlas } from "./blas.ts";
import { installFastKernels } from "./fast_kernels.ts";
import { jsSgemm } from "./js_sgemm.ts";

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
}

/** The parts of a WebGPU adapter that the choice reads. */
export interface AdapterLike {
  /** What the adapter says it is. */
  info?: {
    description?: string;
    vendor?: string;
    architecture?: string;
    device?: string;
  };
  /** True for the browser's software fallback. */
  isFallbackAdapter?: boolean;
}

/** The WebGPU adapter, or null when there is none. */
async function findAdapter(): Promise<AdapterLike | null> {
  const gpu = (globalThis.navigator as {
    gpu?: { requestAdapter(): Promise<AdapterLike | null> };
  }).gpu;
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter();
  } catch {
    return null;
  }
}

function describeAdapter(a: AdapterLike): string {
  const i = a.info ?? {};
  // The description names the device ("llvmpipe (LLVM 15.0.6, 256 bits)");
  // vendor and device are often bare PCI ids, so they are only a fallback.
  return i.description || [i.vendor, i.architecture, i.device].filter((s) => s).join(" ") ||
    "unknown adapter";
}

/** True for software rasterisers (llvmpipe, lavapipe, SwiftShader, WARP). */
export function isSoftwareAdapter(a: AdapterLike): boolean {
  if (a.isFallbackAdapter) return true;
  return /llvmpipe|lavapipe|swiftshader|software|warp|microsoft basic/i.test(
    describeAdapter(a),
  );
}

let chosen: BackendInfo | null = null;

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
  let resolved: BackendInfo["name"];
  let description = "", skipped = "";
  if (name === "auto" || name === "webgpu") {
    const adapter = await findAdapter();
    if (adapter && name === "auto" && isSoftwareAdapter(adapter)) {
      skipped = ` (WebGPU adapter "${
        describeAdapter(adapter)
      }" is a software rasteriser: not used)`;
    }
    if (name === "webgpu" && !adapter) {
      throw new Error(
        "--backend webgpu: navigator.gpu offers no adapter here; use --backend auto or fast",
      );
    }
    resolved = adapter && (name === "webgpu" || !isSoftwareAdapter(adapter)) ? "webgpu" : "fast";
    if (resolved === "webgpu") {
      description = `webgpu on ${describeAdapter(adapter!)}`;
    }
  } else {
    resolved = name;
  }
  const tfName = resolved === "fast" ? "wasm" : resolved;
  // Loaded on demand: importing this library registers no backend that needs
  // async start-up, so plain tfjs code keeps working on the cpu backend.
  if (tfName === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  if (tfName === "webgpu") await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend(tfName))) {
    throw new Error(`tfjs could not start its ${tfName} backend`);
  }
  await tf.ready();
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
  chosen = { name: resolved, description };
  if (!quiet) console.error(`backend: ${description}`);
  return chosen;
}
