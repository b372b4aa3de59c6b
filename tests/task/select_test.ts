// selectBackend("auto") asks for a WebGPU adapter only where a hardware GPU
// may answer: asking starts a software rasteriser's threads for good, and
// `auto` would not train on it anyway.
import assert from "node:assert/strict";
import { mayHaveGpu } from "../../src/backend/select.ts";
import { ROOT, task, TINY } from "../_tasks.ts";

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

Deno.test({
  name: "the train task, with its own permissions, asks for no adapter on a machine without a GPU",
  ignore: Deno.build.os !== "linux" || mayHaveGpu(),
  fn: async () => {
    // Deno reads /dev only with --allow-all: the task (--allow-read, --allow-ffi) looks through libc.
    const dir = await Deno.makeTempDir();
    try {
      const r = await task("train.ts", ["vit", ...TINY, "--out", `${dir}/run`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^backend: fast CPU path/m);
      assert.doesNotMatch(r.stderr, /WebGPU adapter/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
