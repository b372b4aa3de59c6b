/**
 * `deno task data`: download the official CIFAR-10 binary archive, check its
 * size and md5, and extract it safely into `data/` (or `--out DIR`).
 * `--archive PATH` uses a copy downloaded elsewhere.
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { parseFlags, resolvePath, runMain, UsageError } from "../src/cli/args.ts";
import { removeStaleFiles } from "../src/core/stale_files.ts";
import { extractTarGz } from "../src/data/tar.ts";

const HELP = `Download the official CIFAR-10 binary archive, check its size and md5, and
extract it into DIR/cifar-10-batches-bin.

Usage: deno task data [--out DIR] [--archive PATH]

  --out DIR        where to extract (default data)
  --archive PATH   use cifar-10-binary.tar.gz downloaded elsewhere instead of downloading
  --help           this text

Relative paths are relative to the folder you ran the task from.
`;

const URL_ = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
const SIZE = 170_052_171;
const MD5 = "c32a1d4ab5d03f1284b67883e8d87530";

/** Download `url` with a progress line; the bytes only, nothing is written. */
async function download(url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(
      `Could not download ${url} (${
        (e as Error).message
      }). Offline? Fetch cifar-10-binary.tar.gz on another machine and run ` +
        `"deno task data --archive PATH", or point --data / CIFAR10_DIR at an extracted copy.`,
    );
  }
  if (!response.ok || !response.body) {
    throw new Error(`Download of ${url} failed: HTTP ${response.status}`);
  }
  const total = Number(response.headers.get("content-length")) || SIZE;
  const out = new Uint8Array(total);
  let got = 0, lastShown = 0;
  for await (const chunk of response.body) {
    if (got + chunk.length > out.length) {
      throw new Error(`${url} is larger than the expected ${total} bytes`);
    }
    out.set(chunk, got);
    got += chunk.length;
    if (performance.now() - lastShown > 500 || got === total) {
      lastShown = performance.now();
      const pct = (100 * got) / total, bar = "#".repeat(Math.round(pct / 5)).padEnd(20, "-");
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `\r[${bar}] ${(got / 1e6).toFixed(1)} / ${(total / 1e6).toFixed(1)} MB`,
        ),
      );
    }
  }
  Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  return out.subarray(0, got);
}

/** Throw unless `bytes` is the official archive. */
export function verifyArchive(bytes: Uint8Array, source: string): void {
  if (bytes.length !== SIZE) {
    throw new Error(`${source} has ${bytes.length} bytes; the official archive has ${SIZE}`);
  }
  const md5 = createHash("md5").update(bytes).digest("hex");
  if (md5 !== MD5) throw new Error(`${source} has md5 ${md5}; the official archive has ${MD5}`);
}

async function main(args: string[]): Promise<void> {
  const { values: v } = parseFlags({
    args,
    options: { out: { type: "string" }, archive: { type: "string" }, help: { type: "boolean" } },
  });
  if (v.help) return void console.log(HELP);
  const out = resolvePath(v.out) ?? "data";
  // An extraction stages into OUT.partial-PID beside OUT; a killed one leaves it behind.
  const partial = new RegExp(`^${RegExp.escape(basename(out))}\\.partial-(\\d+)$`);
  for (const name of await removeStaleFiles(dirname(out), partial)) {
    console.error(`Removed ${join(dirname(out), name)}, left by an extraction that was killed`);
  }
  let bytes: Uint8Array;
  if (v.archive) {
    try {
      bytes = await Deno.readFile(resolvePath(v.archive));
    } catch (e) {
      throw new UsageError(`--archive ${v.archive}: ${(e as Error).message}`);
    }
  } else {
    bytes = await download(URL_);
  }
  verifyArchive(bytes, v.archive ?? URL_);
  const names = await extractTarGz(bytes, out);
  console.log(`Extracted ${names.length} entries into ${join(out, "cifar-10-batches-bin")}`);
}

if (import.meta.main) await runMain(() => main(Deno.args));
