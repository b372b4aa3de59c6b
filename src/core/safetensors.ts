/**
 * The safetensors format: an 8-byte little-endian header length, a JSON
 * header (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}`)
 * padded with spaces to a multiple of 8 bytes, then the raw little-endian
 * tensor bytes. Written atomically; read with checks that name the problem.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { flatten, type ParamTree, unflatten } from "./params.ts";

/** One tensor's raw contents. */
export interface RawTensor {
  /** Element type: 32-bit floats or integers. */
  dtype: "F32" | "I32";
  /** Size of each axis. */
  shape: number[];
  /** The values, row-major. */
  data: Float32Array | Int32Array;
}

/** A decoded file: tensors by name plus string metadata. */
export interface SafetensorsFile {
  /** Tensors by name, in file order. */
  tensors: Map<string, RawTensor>;
  /** The `__metadata__` strings. */
  metadata: Record<string, string>;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Serialise tensors (in the order given) and metadata to bytes.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(
 *   [["w", { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) }]],
 *   { note: "hi" },
 * );
 * const file = decodeSafetensors(bytes);
 * console.assert(file.tensors.get("w")!.data[1] === 2 && file.metadata.note === "hi");
 * ```
 */
export function encodeSafetensors(
  tensors: Iterable<[string, RawTensor]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  if (!littleEndian) {
    throw new Error("safetensors: big-endian hosts are not supported");
  }
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__") {
      throw new Error(`safetensors: "__metadata__" is not a tensor name`);
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new Error(
        `safetensors: tensor "${name}" has shape [${t.shape}] but ${t.data.length} values`,
      );
    }
    const bytes = new Uint8Array(
      t.data.buffer,
      t.data.byteOffset,
      t.data.byteLength,
    );
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (new TextEncoder().encode(json).length % 8)) % 8;
  json += " ".repeat(pad);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A tensor's entry in the JSON header. */
interface HeaderEntry {
  dtype: RawTensor["dtype"];
  shape: number[];
  data_offsets: [number, number];
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/**
 * Check the parsed JSON header's structure before anything reads it, so a
 * damaged or foreign file fails with what is wrong (through `fail`, which
 * names the file) rather than a bare TypeError deep in the decoder.
 */
function checkHeader(
  header: unknown,
  fail: (why: string) => never,
): { __metadata__?: Record<string, string>; tensors: Record<string, HeaderEntry> } {
  if (!isRecord(header)) {
    const kind = header === null ? "null" : Array.isArray(header) ? "an array" : typeof header;
    return fail(`the header is ${kind}, not a JSON object of tensors`);
  }
  const { __metadata__: metadata, ...entries } = header;
  if (metadata !== undefined) {
    if (!isRecord(metadata)) fail(`"__metadata__" is not an object of strings`);
    for (const [key, value] of Object.entries(metadata as Record<string, unknown>)) {
      if (typeof value !== "string") fail(`metadata "${key}" is not a string`);
    }
  }
  for (const [name, info] of Object.entries(entries)) {
    if (!isRecord(info)) fail(`tensor "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (dtype !== "F32" && dtype !== "I32") {
      fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)} (F32 and I32 only)`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      fail(`tensor "${name}" has no shape (a list of sizes), got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(
        `tensor "${name}" has no data_offsets (two byte offsets), got ${JSON.stringify(offsets)}`,
      );
    }
  }
  return {
    __metadata__: metadata as Record<string, string> | undefined,
    tensors: entries as Record<string, HeaderEntry>,
  };
}

/** Parse safetensors bytes; `source` names the file in errors. */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "safetensors data",
): SafetensorsFile {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBig = view.getBigUint64(0, true);
  // Compared as a BigInt: a length past 2^53 would print rounded as a Number.
  if (headerBig > BigInt(bytes.length - 8)) {
    fail(`header length ${headerBig} exceeds the file size ${bytes.length}`);
  }
  const headerLen = Number(headerBig);
  if (8 + headerLen > bytes.length) {
    fail(`header length ${headerLen} exceeds the file size ${bytes.length}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)),
    );
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message})`);
  }
  const header = checkHeader(parsed, fail);
  const base = 8 + headerLen;
  const dataLen = bytes.length - base;
  const metadata = header.__metadata__ ?? {};
  const tensors = new Map<string, RawTensor>();
  for (const [name, info] of Object.entries(header.tensors)) {
    const [begin, end] = info.data_offsets;
    if (!(begin >= 0 && end >= begin && end <= dataLen)) {
      fail(
        `tensor "${name}" has offsets [${begin}, ${end}] outside the ${dataLen} data bytes`,
      );
    }
    const n = info.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== n * 4) {
      fail(
        `tensor "${name}" of shape [${info.shape}] needs ${n * 4} bytes, has ${end - begin}`,
      );
    }
    // Copy so the result is aligned and owns its memory.
    const copy = bytes.slice(base + begin, base + end);
    const data = info.dtype === "F32" ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
    tensors.set(name, { dtype: info.dtype, shape: info.shape, data });
  }
  return { tensors, metadata };
}

/**
 * Write `bytes` to `path` atomically: a temporary file beside it, then a
 * rename, so a crash never leaves a half-written file in place of a good one.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array | string,
): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${Date.now()}`;
  try {
    if (typeof bytes === "string") await Deno.writeTextFile(tmp, bytes);
    else await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Read a tree's leaves into raw tensors named by their dotted paths. */
export async function treeToRaw(
  tree: ParamTree,
  prefix = "",
): Promise<[string, RawTensor][]> {
  const out: [string, RawTensor][] = [];
  for (const [name, t] of flatten(tree)) {
    const data = await t.data();
    out.push([
      prefix + name,
      t.dtype === "int32"
        ? {
          dtype: "I32",
          shape: t.shape,
          data: Int32Array.from(data as Int32Array),
        }
        : {
          dtype: "F32",
          shape: t.shape,
          data: Float32Array.from(data as Float32Array),
        },
    ]);
  }
  return out;
}

/**
 * Build a tree shaped like `template` from `file`'s tensors named
 * `prefix + dottedName`. Errors name the missing, unexpected or mis-shaped
 * tensors, and say which file they came from.
 */
export function rawToTree<P extends ParamTree>(
  file: SafetensorsFile,
  template: P,
  prefix = "",
  source = "checkpoint",
  ignorePrefixes: readonly string[] = [],
): P {
  const names = flatten(template);
  const missing = names.filter(([n]) => !file.tensors.has(prefix + n)).map((
    [n],
  ) => n);
  if (missing.length > 0) {
    throw new Error(
      `${source}: missing tensors ${missing.slice(0, 5).join(", ")}${
        missing.length > 5 ? ", ..." : ""
      }; is it a checkpoint of this model and preset?`,
    );
  }
  const wanted = new Set(names.map(([n]) => prefix + n));
  const extra = [...file.tensors.keys()].filter((k) =>
    k.startsWith(prefix) && !wanted.has(k) &&
    !ignorePrefixes.some((p) => k.startsWith(p))
  );
  if (extra.length > 0) {
    throw new Error(
      `${source}: unexpected tensors ${
        extra.slice(0, 5).join(", ")
      }; is it a checkpoint of this model and preset?`,
    );
  }
  const values = names.map(([n, t]) => {
    const raw = file.tensors.get(prefix + n)!;
    if (
      raw.shape.length !== t.shape.length ||
      raw.shape.some((s, i) => s !== t.shape[i])
    ) {
      throw new Error(
        `${source}: tensor "${n}" has shape [${raw.shape}], the model expects [${t.shape}]`,
      );
    }
    return tf.tensor(
      raw.data,
      raw.shape,
      raw.dtype === "I32" ? "int32" : "float32",
    );
  });
  return unflatten(template, values);
}

/** Save a parameter tree (and metadata) to `path` atomically. */
export async function saveParams(
  path: string,
  tree: ParamTree,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(
    path,
    encodeSafetensors(await treeToRaw(tree), metadata),
  );
}

/** Load a parameter tree shaped like `template` from `path`. */
export async function loadParams<P extends ParamTree>(
  path: string,
  template: P,
): Promise<{ params: P; metadata: Record<string, string> }> {
  const file = decodeSafetensors(await Deno.readFile(path), path);
  return {
    params: rawToTree(file, template, "", path),
    metadata: file.metadata,
  };
}
