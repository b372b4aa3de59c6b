/**
 * tfjs's WebGPU backend on a device we create ourselves, so that:
 *
 * - the device has every limit the adapter offers, not WebGPU's defaults
 *   (8 storage buffers per shader stage instead of, say, 32);
 * - its errors are captured ({@linkcode installErrorCapture}) instead of
 *   silently dropping command batches;
 * - the kernels it lacks or gets wrong are ours ({@linkcode installWebGPUKernels});
 * - uploads go through `writeBuffer`, not a mapped staging buffer
 *   ({@linkcode uploadByWriteBuffer}: Deno's `getMappedRange` is slow);
 * - its work is counted ({@linkcode installCounters});
 * - Mesa does not print "XDG_RUNTIME_DIR is invalid or not set" when probing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { installCounters } from "./webgpu_counters.ts";
import { installErrorCapture } from "./webgpu_errors.ts";
import { uploadByWriteBuffer } from "./webgpu_upload.ts";
import { checkWebGPUInternals } from "./webgpu_internals.ts";
import { guardSyncReads, installWebGPUKernels, shareScalarConstants } from "./webgpu_kernels.ts";

/** What we read of an adapter (a `GPUAdapter`, or a stand-in in tests). */
export interface AdapterLike {
  /** What the adapter says it is (`GPUAdapterInfo`). */
  info?: {
    description?: string;
    vendor?: string;
    architecture?: string;
    device?: string;
    /** Where Deno 2.9 reports it (the spec moved it from the adapter). */
    isFallbackAdapter?: boolean;
  };
  /** The adapter's limits; the device is requested with all of them. */
  limits?: { maxBindingsPerBindGroup?: number };
  /**
   * The adapter's optional features (`GPUAdapter.features`). Only `has` is
   * read: Deno's own WebGPU types (a consumer's default `lib`) make it a
   * set-like class without the ES2024 `Set` methods that `ReadonlySet` needs.
   */
  features?: { has(feature: string): boolean };
  /** Where older runtimes report it. */
  isFallbackAdapter?: boolean;
}

/**
 * Mesa's WSI code prints "XDG_RUNTIME_DIR is invalid or not set in the
 * environment" on stderr whenever that variable is unset or not an absolute
 * path, though a compute-only program needs no display; it checks again
 * later, so the setting stays for the process. Point it at a path under
 * `/dev/null`: absolute, so Mesa is quiet, and impossible to create (a
 * character device has no children), so no one can plant a display socket
 * there and nothing needs write permission (bench, profile and eval have
 * none) or cleaning up. Without env permission it leaves things as they are.
 */
function quietRuntimeDir(): void {
  try {
    if (Deno.build.os === "windows" || Deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) return;
    Deno.env.set("XDG_RUNTIME_DIR", "/dev/null/vision-attention-no-display");
  } catch { /* only a warning is at stake */ }
}

/** The WebGPU adapter, or null when `navigator.gpu` offers none. */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  const gpu = (globalThis.navigator as { gpu?: GPU }).gpu;
  if (!gpu) return null;
  quietRuntimeDir();
  try {
    return await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
}

/** The adapter's own name ("llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA H100 ..."). */
function adapterName(a: AdapterLike): string {
  const i = a.info ?? {};
  // The description names the device; vendor and device are often bare PCI
  // ids, so they are only a fallback.
  return i.description || [i.vendor, i.architecture, i.device].filter((s) => s).join(" ") ||
    "unknown adapter";
}

/** True for software adapters: the fallback flag, or a known software rasteriser's name. */
export function isSoftwareAdapter(a: AdapterLike): boolean {
  if (a.info?.isFallbackAdapter ?? a.isFallbackAdapter) return true;
  return /llvmpipe|lavapipe|swiftshader|software|warp|microsoft basic/i.test(adapterName(a));
}

/**
 * Features wgpu's Vulkan backend offered on every adapter we have seen
 * (lavapipe; NVIDIA's driver 580 on an H100) and its GL backend on none
 * (Mesa's llvmpipe; NVIDIA's GL on the same H100).
 */
const NOT_ON_GL = [
  "shader-f16",
  "bgra8unorm-storage",
  "rg11b10ufloat-renderable",
  "float32-blendable",
];

/**
 * The native API under the adapter, where it can be told: Deno's WebGPU
 * (wgpu) does not report it. `DENO_WEBGPU_BACKEND` forces one. wgpu's GL
 * backend reports no limit on bindings per bind group (2^32 - 1); its Vulkan
 * backend reports a real one on Mesa but none on NVIDIA's driver either, so
 * an unlimited adapter is GL only without the features GL never has. On
 * Linux those are the only two.
 */
export function graphicsApi(a: AdapterLike): string | null {
  const names: Record<string, string> = {
    vulkan: "Vulkan",
    gl: "GL",
    metal: "Metal",
    dx12: "D3D12",
  };
  try {
    const forced = Deno.env.get("DENO_WEBGPU_BACKEND")?.trim().toLowerCase();
    if (forced && names[forced]) return names[forced];
  } catch { /* no env permission: guess below */ }
  const unlimited = a.limits?.maxBindingsPerBindGroup === 0xffffffff;
  if (unlimited && !NOT_ON_GL.some((f) => a.features?.has(f))) return "GL";
  if (Deno.build.os === "linux") return "Vulkan";
  if (Deno.build.os === "darwin") return "Metal";
  return null;
}

/**
 * One line about the adapter: its name, the API under it, and whether it is
 * software. Mesa's Vulkan rasteriser, lavapipe, calls itself llvmpipe like
 * the GL one; the API tells them apart.
 */
export function describeAdapter(a: AdapterLike): string {
  const name = adapterName(a), api = graphicsApi(a);
  const via = api === "Vulkan" && /llvmpipe/i.test(name) ? "Vulkan (lavapipe)" : api;
  return `${name}${via ? ` via ${via}` : ""}${isSoftwareAdapter(a) ? ", software" : ""}`;
}

function envFlag(name: string): boolean {
  try {
    return Deno.env.get(name) === "1";
  } catch {
    return false;
  }
}

/** Every limit the adapter supports, at its maximum. */
function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === "number") limits[key] = value;
  }
  return limits;
}

/**
 * A device with the adapter's limits (falling back to the few tfjs asks for
 * plus storage buffers, should an implementation refuse the full set).
 */
async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const requiredFeatures: GPUFeatureName[] = adapter.features.has("timestamp-query")
    ? ["timestamp-query"] // kernel times in tf.profile
    : [];
  const all = adapterLimits(adapter);
  const essential = Object.fromEntries(
    [
      "maxStorageBuffersPerShaderStage",
      "maxStorageBufferBindingSize",
      "maxBufferSize",
      "maxComputeWorkgroupStorageSize",
      "maxComputeWorkgroupsPerDimension",
      "maxComputeWorkgroupSizeX",
      "maxComputeInvocationsPerWorkgroup",
    ].filter((k) => k in all).map((k) => [k, all[k]]),
  );
  // WEBGPU_DEFAULT_LIMITS=1 keeps WebGPU's defaults (8 storage buffers per
  // stage): what a browser or a stricter implementation gives; the tests use
  // it to show that no kernel relies on the raised limits.
  if (envFlag("WEBGPU_DEFAULT_LIMITS")) return await adapter.requestDevice({ requiredFeatures });
  try {
    return await adapter.requestDevice({ requiredFeatures, requiredLimits: all });
  } catch {
    return await adapter.requestDevice({ requiredFeatures, requiredLimits: essential });
  }
}

/**
 * Register tfjs's `webgpu` backend on our own device for `adapter`, make it
 * the current backend, and install our kernels, error capture, sync-read
 * guard and counters. Returns a note on the device's limits for the log.
 */
export async function startWebGPU(adapter: GPUAdapter): Promise<string> {
  // The import registers the kernels and tfjs's own factory (a default-limits
  // device); ours replaces the factory.
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  const device = await requestDevice(adapter);
  // tfjs runs small ops on host-resident inputs on the CPU; in training that
  // only moves work (and a dozen shader compilations) from the first step to
  // the second, once the parameters live on the GPU. Off, the first step is
  // what every step costs.
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  tf.removeBackend("webgpu");
  tf.registerBackend(
    "webgpu",
    () =>
      new WebGPUBackend(
        device as unknown as ConstructorParameters<typeof WebGPUBackend>[0],
        adapter.info as unknown as ConstructorParameters<typeof WebGPUBackend>[1],
      ),
    3,
  );
  if (!(await tf.setBackend("webgpu"))) throw new Error("tfjs could not start its webgpu backend");
  await tf.ready();
  const backend = tf.backend();
  checkWebGPUInternals(backend);
  installErrorCapture(backend);
  uploadByWriteBuffer(backend);
  installWebGPUKernels();
  guardSyncReads(backend);
  shareScalarConstants(backend);
  installCounters(backend);
  return `${device.limits.maxStorageBuffersPerShaderStage} storage buffers per shader stage`;
}
