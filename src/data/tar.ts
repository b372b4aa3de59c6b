/**
 * A small, safe tar reader for the CIFAR-10 archive: regular files and
 * folders only, and no entry may write outside the target folder (absolute
 * paths, `..` components and links are refused).
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

/**
 * Extract a .tar.gz into `target`. Everything is written into a temporary
 * folder beside it first and moved into place at the end, so an interrupted
 * or refused extraction leaves nothing that looks complete.
 */
export async function extractTarGz(gz: Uint8Array, target: string): Promise<string[]> {
  const tar = await gunzip(gz);
  const entries = [...readTar(tar)]; // validates every name before anything is written
  const staging = `${target}.partial-${Deno.pid}`;
  await Deno.mkdir(staging, { recursive: true });
  const tops = new Set<string>();
  try {
    for (const e of entries) {
      const path = join(staging, e.name);
      tops.add(e.name.split(/[\\/]/)[0]);
      if (e.type === "directory") await Deno.mkdir(path, { recursive: true });
      else {
        await Deno.mkdir(dirname(path), { recursive: true });
        await Deno.writeFile(path, e.data);
      }
    }
    await Deno.mkdir(target, { recursive: true });
    for (const top of tops) {
      await Deno.remove(join(target, top), { recursive: true }).catch(() => {});
      await Deno.rename(join(staging, top), join(target, top));
    }
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
  return entries.map((e) => e.name);
}
