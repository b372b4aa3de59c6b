/**
 * The CIFAR-10 binary layout (Krizhevsky 2009): `data_batch_1.bin` ..
 * `data_batch_5.bin` and `test_batch.bin`, records of 1 label byte + 3072
 * pixel bytes (1024 red, then 1024 green, then 1024 blue; rows top to
 * bottom). Images stay as bytes in that layout until a batch is made.
 *
 * @module
 */
import { exists } from "../core/exists.ts";

// A local join instead of node:path, so this module (its parser and class
// names are platform-neutral) also loads in a browser; "/" works for Deno's
// file APIs on every OS.
function join(...parts: string[]): string {
  return parts.join("/").replace(/\/{2,}/g, "/");
}

/** Bytes per record: 1 label + 32·32·3 pixels. */
export const RECORD_BYTES = 3073;
/** Pixels per image. */
export const IMAGE_BYTES = 3072;
/** The class names, in label order. */
export const CLASS_NAMES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
] as const;

/** Images (planar bytes, `IMAGE_BYTES` each) and labels. */
export interface ImageSet {
  /** `size` images of `IMAGE_BYTES` planar bytes each. */
  images: Uint8Array;
  /** One class index per image. */
  labels: Uint8Array;
  /** Number of images. */
  size: number;
}

/** The training and test sets. */
export interface Cifar10 {
  /** The training images. */
  train: ImageSet;
  /** The test images. */
  test: ImageSet;
  /** The folder that holds the `.bin` files. */
  dir: string;
}

/**
 * Parse one batch file's bytes; errors name the file and the problem.
 *
 * @example
 * ```ts
 * import { parseBatch, RECORD_BYTES } from "./cifar.ts";
 * const bytes = new Uint8Array(2 * RECORD_BYTES); // each record: a label byte, 3072 pixel bytes
 * bytes[RECORD_BYTES] = 7;
 * const set = parseBatch(bytes, "two.bin");
 * console.assert(set.size === 2 && set.labels[1] === 7);
 * ```
 */
export function parseBatch(bytes: Uint8Array, file: string): ImageSet {
  if (bytes.length === 0 || bytes.length % RECORD_BYTES !== 0) {
    throw new Error(
      `${file}: ${bytes.length} bytes is not a whole number of ${RECORD_BYTES}-byte CIFAR-10 records (truncated or not a CIFAR-10 binary batch?)`,
    );
  }
  const size = bytes.length / RECORD_BYTES;
  const images = new Uint8Array(size * IMAGE_BYTES),
    labels = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const label = bytes[i * RECORD_BYTES];
    if (label > 9) {
      throw new Error(
        `${file}: record ${i} has label ${label}; CIFAR-10 labels are 0-9`,
      );
    }
    labels[i] = label;
    images.set(
      bytes.subarray(i * RECORD_BYTES + 1, (i + 1) * RECORD_BYTES),
      i * IMAGE_BYTES,
    );
  }
  return { images, labels, size };
}

function concat(sets: ImageSet[]): ImageSet {
  const size = sets.reduce((s, x) => s + x.size, 0);
  const images = new Uint8Array(size * IMAGE_BYTES),
    labels = new Uint8Array(size);
  let at = 0;
  for (const s of sets) {
    images.set(s.images, at * IMAGE_BYTES);
    labels.set(s.labels, at);
    at += s.size;
  }
  return { images, labels, size };
}

/** The first `n` images of a set (all when `n` is undefined or larger). */
export function take(set: ImageSet, n?: number): ImageSet {
  if (n === undefined || n >= set.size) return set;
  if (!(n > 0)) throw new Error(`Cannot take ${n} images; ask for at least 1`);
  return {
    images: set.images.subarray(0, n * IMAGE_BYTES),
    labels: set.labels.subarray(0, n),
    size: n,
  };
}

/**
 * Find the folder with the `.bin` files: `dir` itself or its
 * `cifar-10-batches-bin` child.
 */
export async function resolveDataDir(dir: string): Promise<string> {
  const info = await Deno.stat(dir).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return null; // reported below, with what to do
    throw e;
  });
  if (info && !info.isDirectory) {
    throw new Error(
      `"${dir}" is a file, not a folder: --data (or CIFAR10_DIR) names the folder that holds ` +
        `test_batch.bin and data_batch_1.bin .. data_batch_5.bin, or "sample".`,
    );
  }
  for (const candidate of [dir, join(dir, "cifar-10-batches-bin")]) {
    if (await exists(join(candidate, "test_batch.bin"))) return candidate;
  }
  throw new Error(
    `No CIFAR-10 binary files in "${dir}" (looked for test_batch.bin there and in cifar-10-batches-bin/). ` +
      `Run "deno task data" to download them, pass --data DIR (or set CIFAR10_DIR) to point at a copy, or use --data sample.`,
  );
}

/**
 * Load only the test split (`test_batch.bin`) from `dir`: what evaluation
 * needs, so a copy without (or with damaged) training batches still evaluates.
 */
export async function loadTestSet(
  dir: string,
  options: { testSize?: number } = {},
): Promise<{ test: ImageSet; dir: string }> {
  const root = await resolveDataDir(dir);
  const file = join(root, "test_batch.bin");
  return { test: take(parseBatch(await Deno.readFile(file), file), options.testSize), dir: root };
}

/**
 * Load CIFAR-10 from `dir`: `data_batch_1.bin` onward (consecutive; the
 * shipped sample has only the first) and `test_batch.bin`.
 */
export async function loadCifar10(
  dir: string,
  options: { trainSize?: number; testSize?: number } = {},
): Promise<Cifar10> {
  const { test, dir: root } = await loadTestSet(dir, options);
  const batches: ImageSet[] = [];
  for (let i = 1; i <= 5; i++) {
    const file = join(root, `data_batch_${i}.bin`);
    if (!(await exists(file))) {
      if (i === 1) {
        throw new Error(
          `${file} is missing: every CIFAR-10 copy needs at least the first training batch`,
        );
      }
      for (let j = i + 1; j <= 5; j++) {
        if (await exists(join(root, `data_batch_${j}.bin`))) {
          throw new Error(
            `${file} is missing but data_batch_${j}.bin exists: the copy is incomplete`,
          );
        }
      }
      break;
    }
    batches.push(parseBatch(await Deno.readFile(file), file));
    if (
      options.trainSize !== undefined &&
      batches.reduce((s, b) => s + b.size, 0) >= options.trainSize
    ) break;
  }
  return { train: take(concat(batches), options.trainSize), test, dir: root };
}
