/**
 * What the page loads from its own folder (nothing from the network
 * beyond it): `manifest.json`, the shipped models' safetensors, and the
 * test and training images in CIFAR-10's binary record layout.
 *
 * @module
 */
import {
  checkpointModel,
  type ImageSet,
  type ModelSpec,
  type ParamTree,
  parseBatch,
  parseCheckpoint,
} from "@vision-attention/sa";

/** One shipped model, as `manifest.json` lists it. */
export interface ManifestModel {
  /** The safetensors file, relative to the page. */
  file: string;
  /** What the page calls it ("CNN-SA hour"). */
  label: string;
}

/** `manifest.json`, written by `deno task site`. */
export interface Manifest {
  /** Test images in `test.bin` (the first ones of `test_batch.bin`). */
  testImages: number;
  /** Training images in `train.bin` (the first ones of `data_batch_1.bin`). */
  trainImages: number;
  /** The folder the images came from, for the caption. */
  source: string;
  models: ManifestModel[];
}

/** A model ready to run: its spec and parameters. */
export interface PageModel {
  label: string;
  spec: ModelSpec;
  params: ParamTree;
}

/** Everything the page shows. */
export interface Assets {
  manifest: Manifest;
  test: ImageSet;
  train: ImageSet;
  models: PageModel[];
}

async function fetchBytes(url: URL): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`${url.pathname}: HTTP ${response.status}; was the site built completely?`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

/** Load the manifest, the models and the images from the folder at `base`. */
export async function loadAssets(base: URL): Promise<Assets> {
  const response = await fetch(new URL("manifest.json", base));
  if (!response.ok) throw new Error(`manifest.json: HTTP ${response.status}`);
  const manifest = (await response.json()) as Manifest;
  const [testBytes, trainBytes, ...modelBytes] = await Promise.all([
    fetchBytes(new URL("test.bin", base)),
    fetchBytes(new URL("train.bin", base)),
    ...manifest.models.map((m) => fetchBytes(new URL(m.file, base))),
  ]);
  const models = manifest.models.map((m, i) => ({
    label: m.label,
    // The same checks and model lookup as `deno task eval` (the file's
    // metadata names the model and preset).
    ...checkpointModel(parseCheckpoint(modelBytes[i], m.file)),
  }));
  return {
    manifest,
    test: parseBatch(testBytes, "test.bin"),
    train: parseBatch(trainBytes, "train.bin"),
    models,
  };
}
