// A browser entry for tests/browser_test.ts: imports the package root
// (mod.ts) as a browser user would, runs the shipped ViT on the first test
// images on the backend named by `?backend=`, and leaves the logits in
// `globalThis.probe` for the test to compare with Deno's.
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { brand, checkpointModel, parseBatch, parseCheckpoint } from "../mod.ts";
import { fillBatch } from "../src/data/batches.ts";
import { predict } from "../src/train/step.ts";

// Re-exported whole so the bundle keeps every module of the root (a bundle
// keeps its entry's exports), not only what the probe calls: the test checks
// that none of them imports node:.
export * from "../mod.ts";

/** Images whose logits are compared. */
export const PROBE_IMAGES = 8;

async function bytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function probe(): Promise<{ backend: string; logits: number[] }> {
  const backend = new URLSearchParams(location.search).get("backend") ?? "cpu";
  setWasmPaths(new URL("./", location.href).href);
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs could not start ${backend}`);
  const { spec, params } = checkpointModel(
    parseCheckpoint(await bytes("models/vit-hour.safetensors"), "vit-hour.safetensors"),
  );
  const set = parseBatch(await bytes("test.bin"), "test.bin");
  const pixels = new Float32Array(PROBE_IMAGES * 3072), labels = new Int32Array(PROBE_IMAGES);
  fillBatch(set, [...Array(PROBE_IMAGES).keys()], pixels, labels, null);
  const images = brand(tf.tensor4d(pixels, [PROBE_IMAGES, 32, 32, 3]), [
    "batch",
    "height",
    "width",
    "channels",
  ]);
  const { logits } = await predict(spec.apply, params, images);
  return { backend: tf.getBackend(), logits: Array.from(logits) };
}

if (typeof document !== "undefined") {
  probe().then(
    (result) => Object.assign(globalThis, { probe: result }),
    (e) => console.error(e),
  );
}
