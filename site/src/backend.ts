/**
 * The page's tfjs backend: WebGPU when the browser offers a real GPU
 * adapter, else WebGL on a real GPU, else WebAssembly, else plain
 * JavaScript. Software rasterisers (SwiftShader, llvmpipe) are skipped as
 * `--backend auto` skips them in Deno: on a CPU they are slower than wasm.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
import { type AdapterLike, isSoftwareAdapter } from "@vision-attention/sa/backend";

/** The backends the page can run on, best first. */
export const PAGE_BACKENDS = ["webgpu", "webgl", "wasm", "cpu"] as const;
/** One of {@linkcode PAGE_BACKENDS}. */
export type PageBackend = typeof PAGE_BACKENDS[number];

/** What was chosen, and why the better ones were not. */
export interface PickedBackend {
  name: PageBackend;
  /** One line for people: the backend and what was skipped. */
  description: string;
}

async function webgpuAdapter(): Promise<AdapterLike | null> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<AdapterLike | null> } }).gpu;
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter();
  } catch {
    return null;
  }
}

/** The WebGL renderer's name ("ANGLE (… SwiftShader …)"), or null without WebGL 2. */
function webglRenderer(): string | null {
  const gl = document.createElement("canvas").getContext("webgl2");
  if (!gl) return null;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension("WEBGL_lose_context")?.loseContext(); // give the context back now
  return name;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

/** Why `name` cannot be used here, or null when it can be tried. */
async function unavailable(name: PageBackend, forced: boolean): Promise<string | null> {
  if (name === "webgpu") {
    const adapter = await webgpuAdapter();
    if (!adapter) return "no adapter";
    if (!forced && isSoftwareAdapter(adapter)) return "software adapter, skipped";
  }
  if (name === "webgl") {
    const renderer = webglRenderer();
    if (!renderer) return "not available";
    const software = renderer.match(SOFTWARE);
    if (!forced && software) return `${software[0]} renderer (software), skipped`;
  }
  return null;
}

/**
 * Start the best backend (or `requested`, then the ones after it), with the
 * wasm binaries served from `wasmBase` (a URL ending in `/`).
 */
export async function pickBackend(
  requested: PageBackend | "auto",
  wasmBase: string,
): Promise<PickedBackend> {
  setWasmPaths(wasmBase);
  const start = requested === "auto" ? 0 : PAGE_BACKENDS.indexOf(requested);
  const skipped: string[] = [];
  for (const name of PAGE_BACKENDS.slice(start)) {
    const why = await unavailable(name, name === requested);
    if (why === null) {
      try {
        if (await tf.setBackend(name)) {
          await tf.ready();
          const note = skipped.length > 0 ? ` (${skipped.join("; ")})` : "";
          return { name, description: `${name}${note}` };
        }
      } catch { /* tf logs the failure as a warning; try the next */ }
    }
    skipped.push(`${name}: ${why ?? "failed to start"}`);
  }
  throw new Error(`No tfjs backend could start: ${skipped.join("; ")}`);
}
