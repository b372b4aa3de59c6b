/**
 * A small, safe tar reader for the CIFAR-10 archive: regular files and
 * folders only, and no entry may write outside the target folder (absolute
 * paths, `..` components and links are refused). Extraction replaces only
 * the archive's `cifar-10-batches-bin` folder, and only once the new copy is
 * complete.
 *
 * @module
 */
import { dirname, join, normalize } from "node:path";

/** One archive entry. */
export interface TarEntry {
  name: string;
  type: "file" | "directory";
  data: Uint8Array;
}

function field(block: Uint8Array, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end));
}

function octal(block: Uint8Array, offset: number, length: number): number {
  const s = field(block, offset, length).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

/** Refuse names that would escape the target folder. Returns the normalised name. */
export function safeEntryName(name: string): string {
  if (name.startsWith("/") || /^[a-zA-Z]:[\\/]/.test(name) || name.startsWith("\\")) {
    throw new Error(
      `Refusing archive entry "${name}": absolute paths could write outside the target folder`,
    );
  }
  if (name.split(/[\\/]/).includes("..")) {
    throw new Error(`Refusing archive entry "${name}": ".." could write outside the target folder`);
  }
  return normalize(name);
}

/** Parse an uncompressed tar archive (ustar/GNU, with pax headers skipped). */
export function* readTar(bytes: Uint8Array): Generator<TarEntry> {
  let offset = 0;
  let longName: string | null = null;
  while (offset + 512 <= bytes.length) {
    const header = bytes.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) return;
    const size = octal(header, 124, 12);
    const typeFlag = String.fromCharCode(header[156] || 48);
    const prefix = field(header, 345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = null;
    const dataStart = offset + 512;
    if (dataStart + size > bytes.length) {
      throw new Error(`Truncated archive: entry "${name}" needs ${size} bytes`);
    }
    const data = bytes.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / 512) * 512;
    if (typeFlag === "L") {
      longName = field(data, 0, data.length);
      continue;
    }
    if (typeFlag === "x" || typeFlag === "g") continue; // pax metadata
    if (typeFlag === "1" || typeFlag === "2") {
      throw new Error(
        `Refusing archive entry "${name}": links could point outside the target folder`,
      );
    }
    name = safeEntryName(name);
    // `./` (the archive's root, as `tar -C dir .` writes it) and empty names
    // name the target folder itself: nothing to create, and nothing to replace.
    if (name.replace(/[\\/]+$/, "") === ".") continue;
    if (typeFlag === "5") yield { name, type: "directory", data };
    else if (typeFlag === "0" || typeFlag === "7") yield { name, type: "file", data };
    else throw new Error(`Refusing archive entry "${name}": unsupported type "${typeFlag}"`);
  }
  throw new Error("Truncated archive: it ends without the end-of-archive blocks");
}

/** Gunzip `gz` (via the platform's DecompressionStream). */
export async function gunzip(gz: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([gz as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The folder the official CIFAR-10 binary archive unpacks to. */
export const CIFAR_FOLDER = "cifar-10-batches-bin";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Extract a .tar.gz into `target`, where it must create `folder` (the
 * CIFAR-10 folder by default) and nothing else: an entry outside it is
 * refused, so an archive cannot replace a sibling such as `data/sample`.
 * Everything is written into a temporary folder beside `target` first; an
 * existing `folder` is set aside only when the new one is complete, put back
 * if moving the new one in fails, and deleted after it succeeds. Returns the
 * entry names.
 */
export async function extractTarGz(
  gz: Uint8Array,
  target: string,
  folder: string = CIFAR_FOLDER,
): Promise<string[]> {
  const tar = await gunzip(gz);
  const entries = [...readTar(tar)]; // validates every name before anything is written
  for (const e of entries) {
    const [top, ...rest] = e.name.split(/[\\/]/).filter((part) => part !== "");
    if (top !== folder || (rest.length === 0 && e.type !== "directory")) {
      throw new Error(
        `Refusing archive entry "${e.name}": this archive should hold only the folder ${folder}/, ` +
          `and extraction replaces nothing else in "${target}"`,
      );
    }
  }
  if (entries.length === 0) {
    throw new Error(`The archive holds no ${folder}/ folder; "${target}" was left as it was`);
  }
  await Deno.mkdir(target, { recursive: true });
  // Beside the target, where `deno task data` cleans what a killed extraction
  // left; the old copy waits inside the target, under a name no cleaner
  // touches, for the moment between the two renames.
  const staging = `${target}.partial-${Deno.pid}`;
  const live = join(target, folder), old = join(target, `${folder}.old-${Deno.pid}`);
  await Deno.mkdir(join(staging, folder), { recursive: true });
  try {
    for (const e of entries) {
      const path = join(staging, e.name);
      if (e.type === "directory") await Deno.mkdir(path, { recursive: true });
      else {
        await Deno.mkdir(dirname(path), { recursive: true });
        await Deno.writeFile(path, e.data);
      }
    }
    const replacing = await exists(live);
    if (replacing) await Deno.rename(live, old);
    try {
      await Deno.rename(join(staging, folder), live);
    } catch (e) {
      if (replacing) await Deno.rename(old, live);
      throw e;
    }
    if (replacing) await Deno.remove(old, { recursive: true });
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
  return entries.map((e) => e.name);
}
