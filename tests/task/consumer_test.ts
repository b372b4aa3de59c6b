// The package as a user's project sees it: a folder outside this repository
// whose deno.json holds only an import map (this project's `imports`, plus
// the package name and its subpaths mapped to the entries in deno.json's
// `exports`) and the default compiler options, not this project's `lib`,
// `strict` and the rest. A script there imports every entry and runs a tiny
// ViT; `deno check` must pass and `deno run` must print the script's line
// and nothing else (no tfjs banner, no warning).
import assert from "node:assert/strict";

/** The parts of deno.json a consumer's setup is made from. */
interface PackageConfig {
  name: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
}

const REPO = new URL("../../", import.meta.url);

async function packageConfig(root: URL): Promise<PackageConfig> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  return { name: config.name, exports: config.exports, imports: config.imports };
}

/** The specifier a user writes for an export: `@scope/name` or `@scope/name/sub`. */
function specifierOf(name: string, subpath: string): string {
  return subpath === "." ? name : `${name}/${subpath.replace(/^\.\//, "")}`;
}

/**
 * A consumer's import map: the package's own `imports`, and each of its
 * `exports` mapped to the file URL of that entry under `root` (a checkout,
 * or a copy of the package).
 */
export function consumerImportMap(config: PackageConfig, root: URL): Record<string, string> {
  const imports = { ...config.imports };
  for (const [subpath, file] of Object.entries(config.exports)) {
    imports[specifierOf(config.name, subpath)] = new URL(file, root).href;
  }
  return imports;
}

/** The one line the consumer's script prints (the logits of 2 images, 10 classes). */
const LINE = "consumer: ViT tiny logits 2,10";

/** A script that imports every entry of `config` and runs a forward pass. */
export function consumerScript(config: PackageConfig): string {
  // ./types holds types only: deno check covers it, at run time it is empty.
  const subpaths = Object.keys(config.exports).filter((s) => s !== "." && s !== "./types");
  const lines = [
    `import * as tf from "@tensorflow/tfjs";`,
    `import { brand, initViT, Rng, vit, VIT_PRESETS } from "${specifierOf(config.name, ".")}";`,
    ...subpaths.map((s, i) => `import * as entry${i} from "${specifierOf(config.name, s)}";`),
    ...("./types" in config.exports
      ? [`import type { ViTParams } from "${specifierOf(config.name, "./types")}";`]
      : []),
    ``,
    `const entries: Record<string, object> = {`,
    ...subpaths.map((s, i) => `  ${JSON.stringify(s)}: entry${i},`),
    `};`,
    `for (const [subpath, entry] of Object.entries(entries)) {`,
    "  if (Object.keys(entry).length === 0) throw new Error(`${subpath} exports nothing`);",
    `}`,
    `const config = VIT_PRESETS.tiny;`,
    `const params${
      "./types" in config.exports ? ": ViTParams" : ""
    } = initViT(new Rng(0), config);`,
    `const images = brand(tf.zeros([2, 32, 32, 3]), ["batch", "height", "width", "channels"]);`,
    `const logits = vit(params, images, config);`,
    "console.log(`consumer: ViT tiny logits ${logits.shape.join()}`);",
    ``,
  ];
  return lines.join("\n");
}

async function deno(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, output: text.decode(stdout) + text.decode(stderr) };
}

Deno.test("a consumer with default compiler options type-checks and runs every entry quietly", async () => {
  const config = await packageConfig(REPO);
  const dir = await Deno.makeTempDir({ prefix: "sa-consumer-" });
  try {
    const repoPath = await Deno.realPath(REPO);
    assert.ok(
      !(await Deno.realPath(dir)).startsWith(repoPath),
      `the consumer's folder ${dir} must lie outside the repository (set TMPDIR elsewhere)`,
    );
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ imports: consumerImportMap(config, REPO) }, null, 2),
    );
    await Deno.writeTextFile(`${dir}/main.ts`, consumerScript(config));

    const check = await deno(["check", "main.ts"], dir);
    assert.equal(check.code, 0, `deno check failed in the consumer:\n${check.output}`);

    const run = await deno(["run", "--allow-read", "--allow-env", "--allow-ffi", "main.ts"], dir);
    assert.equal(run.code, 0, `deno run failed in the consumer:\n${run.output}`);
    assert.equal(run.output, `${LINE}\n`, "the consumer's run printed more than its own line");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
