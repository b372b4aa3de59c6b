/**
 * `deno task site [--data DIR|sample] [--images N] [--train-images N] [--out DIR]`:
 * build the in-browser attention explorer as a static folder that needs
 * nothing from the network: the page, its bundle (`deno bundle --platform
 * browser`), tfjs's wasm binaries, the shipped weights, and the first test
 * and training images of a CIFAR-10 copy in the official record layout.
 */
import { dataFlag, numberFlag, parseFlags, resolvePath, runMain } from "../src/cli/args.ts";
import { envWithoutLoaderVariables } from "../src/cli/child_env.ts";
import { parseBatch, RECORD_BYTES, resolveDataDir } from "../src/data/cifar.ts";
import { parseCheckpoint } from "../src/train/checkpoint.ts";
import { dataDir } from "../src/train/config.ts";

const ROOT = new URL("../", import.meta.url);
const path = (url: URL) => decodeURIComponent(url.pathname);

/** The models the page shows, as shipped in `weights/`. */
export const SITE_MODELS: readonly { file: string; label: string }[] = [
  { file: "weights/cnn-hour.safetensors", label: "CNN-SA hour" },
  { file: "weights/vit-hour.safetensors", label: "ViT hour" },
];

/** What to build. */
export interface SiteOptions {
  /** `sample`, or a folder with the CIFAR-10 binary files. */
  data: string;
  /** Test images to ship (fewer if the copy has fewer). */
  images: number;
  /** Training images to ship, for training the tiny ViT in the page. */
  trainImages: number;
  /** The folder to write (created; files of an earlier build are overwritten). */
  out: string;
  /** Print what was written. */
  quiet?: boolean;
}

/** The first `count` records of a CIFAR-10 batch file (all if it has fewer), checked. */
async function firstRecords(file: string, count: number): Promise<Uint8Array> {
  const want = count * RECORD_BYTES;
  const bytes = new Uint8Array(want);
  using handle = await Deno.open(file, { read: true });
  let have = 0;
  while (have < want) {
    const n = await handle.read(bytes.subarray(have));
    if (n === null) break;
    have += n;
  }
  const records = bytes.subarray(0, have - (have % RECORD_BYTES));
  parseBatch(records, file); // throws, naming the file, on a bad label or an empty file
  return records;
}

/** Bundle the page's script for browsers (minified; no `node:` import survives). */
async function bundle(entry: string, output: string): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--minify",
      "--config",
      path(new URL("deno.json", ROOT)),
      "--output",
      output,
      entry,
    ],
    // Under --allow-run=<deno>, an inherited LD_LIBRARY_PATH would stop the spawn.
    env: envWithoutLoaderVariables(),
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno bundle ${entry} failed:\n${new TextDecoder().decode(stderr)}`);
  }
}

/** Build the site into `o.out`; returns the files written and their sizes. */
export async function buildSite(o: SiteOptions): Promise<Record<string, number>> {
  const dir = await resolveDataDir(dataDir(o.data));
  await Deno.mkdir(`${o.out}/models`, { recursive: true });
  const test = await firstRecords(`${dir}/test_batch.bin`, o.images);
  const train = await firstRecords(`${dir}/data_batch_1.bin`, o.trainImages);
  await Deno.writeFile(`${o.out}/test.bin`, test);
  await Deno.writeFile(`${o.out}/train.bin`, train);
  const models = [];
  for (const m of SITE_MODELS) {
    const bytes = await Deno.readFile(path(new URL(m.file, ROOT)));
    parseCheckpoint(bytes, m.file); // refuse to ship a file the page could not load
    const file = `models/${m.file.split("/").pop()}`;
    await Deno.writeFile(`${o.out}/${file}`, bytes);
    models.push({ file, label: m.label });
  }
  // tfjs-backend-wasm fetches its binary (plain, SIMD or threaded SIMD,
  // whichever the browser supports) from the path the page sets.
  const wasmDir = new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm"));
  for (
    const name of [
      "tfjs-backend-wasm.wasm",
      "tfjs-backend-wasm-simd.wasm",
      "tfjs-backend-wasm-threaded-simd.wasm",
    ]
  ) {
    await Deno.copyFile(path(new URL(name, wasmDir)), `${o.out}/${name}`);
  }
  for (const name of ["index.html", "style.css"]) {
    await Deno.copyFile(path(new URL(`site/${name}`, ROOT)), `${o.out}/${name}`);
  }
  const manifest = {
    testImages: test.length / RECORD_BYTES,
    trainImages: train.length / RECORD_BYTES,
    source: dir,
    models,
  };
  await Deno.writeTextFile(`${o.out}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  await bundle(path(new URL("site/src/main.ts", ROOT)), `${o.out}/app.js`);
  const sizes: Record<string, number> = {};
  for (const name of ["app.js", "test.bin", "train.bin", ...models.map((m) => m.file)]) {
    sizes[name] = (await Deno.stat(`${o.out}/${name}`)).size;
  }
  if (!o.quiet) {
    console.log(
      `${o.out}: ${manifest.testImages} test and ${manifest.trainImages} training images from ${dir}`,
    );
    for (const [name, size] of Object.entries(sizes)) {
      console.log(`  ${name.padEnd(32)} ${(size / 1024).toFixed(0).padStart(6)} KiB`);
    }
  }
  return sizes;
}

const HELP = `Build the in-browser attention explorer (a static folder).

Usage: deno task site [--data DIR|sample] [--images N] [--train-images N] [--out DIR]

  --data DIR        a CIFAR-10 binary copy (default $CIFAR10_DIR, else
                    data/cifar-10-batches-bin); "sample" for data/sample
  --images N        test images to ship, the first of test_batch.bin (default 300)
  --train-images N  training images to ship, the first of data_batch_1.bin (default 1000)
  --out DIR         where to write (default site/dist); serve it with deno task serve
`;

async function main(args: string[]): Promise<void> {
  const { values: v } = parseFlags({
    args,
    options: {
      data: { type: "string" },
      images: { type: "string" },
      "train-images": { type: "string" },
      out: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (v.help) return void console.log(HELP);
  // A typed --out is relative to the folder deno task ran from; the default is the project's.
  const out = resolvePath(v.out) ?? "site/dist";
  await buildSite({
    data: dataFlag(v.data) ?? "data/cifar-10-batches-bin",
    images: numberFlag("images", v.images, { integer: true, min: 1 }) ?? 300,
    trainImages: numberFlag("train-images", v["train-images"], { integer: true, min: 1 }) ??
      1000,
    out,
  });
  console.log(`Serve it: deno task serve${v.out ? ` --dir ${out}` : ""}`);
}

if (import.meta.main) await runMain(() => main(Deno.args));
