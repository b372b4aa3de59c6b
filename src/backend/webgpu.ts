/**
 * The WebGPU adapter: found without Mesa printing "XDG_RUNTIME_DIR is
 * invalid or not set", and described (name, API, software or not).
 *
 * @module
 */
/** What we read of an adapter (a `GPUAdapter`, or a stand-in in tests). */
export interface AdapterLike {
  info?: {
    description?: string;
    vendor?: string;
    architecture?: string;
    device?: string;
    /** Where Deno 2.9 reports it (the spec moved it from the adapter). */
    isFallbackAdapter?: boolean;
  };
  limits?: { maxBindingsPerBindGroup?: number };
  /** Where older runtimes report it. */
  isFallbackAdapter?: boolean;
}

/**
 * Mesa's WSI code prints "XDG_RUNTIME_DIR is invalid or not set in the
 * environment" on stderr whenever that variable is unset or not an absolute
 * path, though a compute-only program needs no display. Point it at a
 * private, empty directory (removed at exit) before the first adapter
 * request. Without env or write permission it leaves things as they are.
 */
function privateRuntimeDir(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) return;
    const dir = Deno.makeTempDirSync({ prefix: "vision-attention-runtime-" });
    Deno.chmodSync(dir, 0o700); // what the XDG spec asks of the directory
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
  } catch {
    // Only a warning is at stake.
  }
}

/** The WebGPU adapter, or null when `navigator.gpu` offers none. */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  privateRuntimeDir();
  const gpu = (globalThis.navigator as { gpu?: GPU }).gpu;
  if (!gpu) return null;
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
 * The native API under the adapter, where it can be told: Deno's WebGPU
 * (wgpu) does not report it. `DENO_WEBGPU_BACKEND` forces one; wgpu's GL
 * backend reports no limit on bindings per bind group (2^32 - 1) where its
 * Vulkan backend reports a real one; on Linux those are the only two.
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
  if (a.limits?.maxBindingsPerBindGroup === 0xffffffff) return "GL";
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
