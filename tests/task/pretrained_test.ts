// loadPretrained(): the shipped weights by name, checked by SHA-256, from
// the package's own files, also when the package is a copy outside the
// repository (as a user's cache holds it).
import assert from "node:assert/strict";
import { join } from "node:path";
import { PRETRAINED } from "../../mod.ts";
import { ROOT } from "../_tasks.ts";
import { setup } from "../_setup.ts";

await setup();

/** The files `deno publish` would upload, as paths relative to the root. */
async function publishedFiles(): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty", "--no-check"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  const root = new URL("../..", import.meta.url).href;
  return [...text.matchAll(/(file:\/\/\S+) \(/g)].map((m) =>
    decodeURIComponent(m[1].slice(root.length))
  );
}

Deno.test("the published package holds the weights, and a copy of it loads them by name", async () => {
  const files = await publishedFiles();
  for (const name of Object.keys(PRETRAINED)) {
    assert.ok(files.includes(`weights/${name}.safetensors`));
  }
  const tmp = await Deno.makeTempDir({ prefix: "package_copy_" });
  try {
    const pkg = join(tmp, "pkg"), app = join(tmp, "app");
    for (const f of files) {
      await Deno.mkdir(join(pkg, f, ".."), { recursive: true });
      await Deno.copyFile(join(ROOT, f), join(pkg, f));
    }
    // A user's project: the package by file URL, its npm dependencies by the package's own map.
    const { imports } = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
    await Deno.mkdir(app);
    await Deno.writeTextFile(
      join(app, "deno.json"),
      JSON.stringify({ imports: { ...imports, "@vision-attention/sa": `file://${pkg}/mod.ts` } }),
    );
    await Deno.writeTextFile(
      join(app, "main.ts"),
      `import { loadPretrained } from "@vision-attention/sa";\n` +
        `const { spec } = await loadPretrained("vit-hour");\n` +
        `console.log(spec.kind, spec.preset, spec.paramCount);\n`,
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", "main.ts"],
      cwd: app,
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(r.stdout), stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, stderr);
    assert.match(stdout, /^vit hour \d+\n$/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
