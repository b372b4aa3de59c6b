// The shipped SIMD module: compiled from its source, and safe to instantiate
// on tfjs's heap (it imports that memory and must not write into it on load).
import assert from "node:assert/strict";
import { compileKernels, moduleSource } from "../../tasks/build_wasm.ts";
import { SIMD_MODULE_BASE64 } from "../../src/backend/cpu/simd_module.ts";

const bytes = Uint8Array.from(atob(SIMD_MODULE_BASE64), (c) => c.charCodeAt(0));

/** The ids of a wasm binary's sections, in order. */
function sectionIds(wasm: Uint8Array): number[] {
  const ids: number[] = [];
  let at = 8; // magic and version
  while (at < wasm.length) {
    const id = wasm[at++];
    let size = 0, shift = 0, byte: number;
    do {
      byte = wasm[at++];
      size |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    ids.push(id);
    at += size;
  }
  return ids;
}

Deno.test("the SIMD module imports only the heap and has no data or start to run on load", () => {
  const module = new WebAssembly.Module(bytes);
  assert.deepEqual(WebAssembly.Module.imports(module), [
    { module: "env", name: "memory", kind: "memory" },
  ]);
  const ids = sectionIds(bytes);
  assert.ok(!ids.includes(11), "a data section would write into tfjs's heap");
  assert.ok(!ids.includes(8), "a start function would run on load");
  const exported = WebAssembly.Module.exports(module).map((e) => e.name);
  for (const name of ["gelu", "geluGrad", "layerNorm", "layerNormGrad", "im2col", "splitHeads"]) {
    assert.ok(exported.includes(name), `${name} is exported`);
  }
});

Deno.test("src/backend/cpu/simd_module.ts is what wasm/kernels.ts compiles to (deno task build:wasm)", async () => {
  const committed = await Deno.readTextFile("src/backend/cpu/simd_module.ts");
  assert.equal(
    committed,
    moduleSource(await compileKernels()),
    "the committed module is stale: run deno task build:wasm",
  );
});
