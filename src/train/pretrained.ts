/**
 * The shipped one-hour weights, by name: fetched from the package's own
 * `weights/` folder (relative to this module, so from a checkout, from the
 * published package and from any host that serves the package's files), and
 * checked against their SHA-256 before a tensor is made. A browser bundle
 * moves the module away from that folder, and Node's `fetch` reads no
 * `file:` URLs: there, pass `baseUrl`.
 *
 * @module
 */
import { checkpointModel, parseCheckpoint } from "./checkpoint.ts";
import type { ParamTree } from "../core/params.ts";
import type { ModelSpec } from "../models/presets.ts";

/** The shipped weights: each preset's best 60-minute run on a 2-core CPU (docs/hour). */
export const PRETRAINED = {
  /** CNN with self-attention, `cnn:hour`: 87.96 % six views, 85.98 % one view. */
  "cnn-hour": "755ab65205306dee3e3ac4febbd59583431149bf4db9617d7be4c1b28bf96419",
  /** ViT, `vit:hour`: 82.75 % six views, 81.42 % one view. */
  "vit-hour": "aaa9b299dade41142ec0544cfe517c489b694e76e7f9611cc8548a025f1dc00a",
} as const;

/** A name of {@linkcode PRETRAINED}. */
export type PretrainedName = keyof typeof PRETRAINED;

/** Options of {@linkcode loadPretrained}. */
export interface PretrainedOptions {
  /**
   * The folder that holds the `.safetensors` files (default: the package's
   * `weights/`); for a bundle served apart from the package, say.
   */
  baseUrl?: string | URL;
}

/** A model and its parameters; the caller owns (and disposes) the tensors. */
export interface PretrainedModel {
  /** Which model, preset and forward function. */
  spec: ModelSpec;
  /** Its trained parameters, batch-norm statistics included. */
  params: ParamTree;
}

/**
 * The shipped model `name` with its trained weights, checked against their
 * SHA-256.
 *
 * @example Classify a test image with the shipped CNN-SA
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand, classify, CLASS_NAMES, loadPretrained } from "@vision-attention/sa";
 * const { spec, params } = await loadPretrained("cnn-hour");
 * const image = brand(tf.zeros([1, 32, 32, 3]), ["batch", "height", "width", "channels"]);
 * const [label] = await classify(spec, params, image); // a grey image
 * console.log(CLASS_NAMES[label]);
 * ```
 */
export async function loadPretrained(
  name: PretrainedName,
  options: PretrainedOptions = {},
): Promise<PretrainedModel> {
  const expected: string | undefined = PRETRAINED[name];
  if (expected === undefined) {
    throw new Error(
      `No pretrained model "${name}"; choose one of ${Object.keys(PRETRAINED).join(", ")}`,
    );
  }
  const base = options.baseUrl ?? new URL("../../weights/", import.meta.url);
  const url = new URL(`${name}.safetensors`, base);
  // Where the package's own folder cannot be fetched (a bundle moved away
  // from it, Node's fetch on file: URLs), say what to do instead.
  const advice = "pass { baseUrl } naming the folder that serves the .safetensors files, or " +
    "read the file yourself and use parseCheckpoint and checkpointModel";
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${url}: ${(e as Error).message}; cannot load "${name}": ${advice}`);
  }
  if (!response.ok) {
    throw new Error(
      `${url}: ${response.status} ${response.statusText}; cannot load "${name}": ${advice}`,
    );
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  const actual = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  if (actual !== expected) {
    throw new Error(
      `${url}: SHA-256 ${actual} is not the shipped ${name}'s ${expected}; the file is damaged ` +
        `or replaced: fetch the package again`,
    );
  }
  return checkpointModel(parseCheckpoint(bytes, url.href));
}
