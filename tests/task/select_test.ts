// selectBackend("auto") asks for a WebGPU adapter only where a hardware GPU
// may answer: asking starts a software rasteriser's threads for good, and
// `auto` would not train on it anyway.
import assert from "node:assert/strict";
import { mayHaveGpu } from "../../src/backend/select.ts";
import { ROOT } from "../_tasks.ts";

Deno.test({
  name: "selectBackend('auto') without a GPU starts no software rasteriser thread",
  ignore: Deno.build.os !== "linux" || mayHaveGpu(),
  fn: async () => {
    const script = [
      `import { selectBackend } from "${ROOT}src/backend/select.ts";`,
      `const b = await selectBackend("auto", true);`,
      `const comm = (t: string) => Deno.readTextFileSync("/proc/self/task/" + t + "/comm").trim();`,
      `const names = [...Deno.readDirSync("/proc/self/task")].map((t) => comm(t.name));`,
      `console.log(b.name, names.filter((n) => /llvmpipe|lavapipe/.test(n)).length);`,
    ].join("\n");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--v8-flags=--no-liftoff", script],
      cwd: ROOT,
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "fast 0");
  },
});
