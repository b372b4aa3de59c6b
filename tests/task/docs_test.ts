// deno doc --lint over every entry point of deno.json's exports, together
// (as JSR sees the package): every export documented, no private type in a
// public signature, except the reasoned list below.
import assert from "node:assert/strict";

/**
 * Private types public signatures may name: tfjs's own tensor types (an npm
 * dependency's public API; re-exporting them would pull a dozen tfjs
 * internals such as Rank and DataType into our docs), and the phantom brand
 * key of `T`, which stays unexported so that only brand() and cast() make a
 * branded tensor.
 */
const ALLOWED_PRIVATE = new Set(["Tensor", "Tensor1D", "Scalar", "axesBrand"]);

Deno.test("deno doc --lint: every entry point's exports are documented", async () => {
  const root = new URL("../../", import.meta.url);
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const entries = Object.values(config.exports as Record<string, string>);
  const { stderr, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...entries],
    cwd: decodeURIComponent(root.pathname),
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stderr) + new TextDecoder().decode(stdout);
  const problems = text.split("\n").filter((l) => /^error\[/.test(l)).filter((l) => {
    const ref = l.match(/references private type '([^']+)'/);
    return !(ref && ALLOWED_PRIVATE.has(ref[1]));
  });
  assert.deepEqual(problems, [], text.slice(0, 4000));
  assert.ok(entries.length >= 5, `entries: ${entries}`);
});

Deno.test("mod.ts names its exports (no export *), at most 60 symbols as deno doc lists them", async () => {
  const root = new URL("../../", import.meta.url);
  const source = await Deno.readTextFile(new URL("mod.ts", root));
  assert.doesNotMatch(source, /export \*/);
  const { stdout, code } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "mod.ts"],
    cwd: decodeURIComponent(root.pathname),
  }).output();
  assert.equal(code, 0);
  const doc = JSON.parse(new TextDecoder().decode(stdout));
  const symbols = Object.values(doc.nodes as Record<string, { symbols: { name: string }[] }>)
    .flatMap((n) => n.symbols.map((s) => s.name));
  assert.ok(symbols.length >= 40, `only ${symbols.length} symbols`);
  assert.ok(symbols.length <= 60, `${symbols.length} root symbols: ${symbols.join(", ")}`);
  for (const name of ["loadPretrained", "trainStep", "initTrainState", "imageBatch", "evaluate"]) {
    assert.ok(symbols.includes(name), name);
  }
});
