// The README's library examples are the files in examples/, shown verbatim,
// and they run: the training script's loss falls, the pretrained one names
// a class, and the accuracy the README states for the shipped CNN-SA on the
// sample is what evaluate() gives.
import assert from "node:assert/strict";
import { join } from "node:path";
import { evaluate, loadPretrained } from "../../mod.ts";
import { loadCifar10 } from "../../src/data/cifar.ts";
import { SAMPLE_DIR } from "../../src/train/config.ts";
import { ROOT } from "../_tasks.ts";
import { setup } from "../_setup.ts";

await setup();

const readme = await Deno.readTextFile(join(ROOT, "README.md"));

/** Run an example as a user would from the checkout: `deno run` from the root. */
async function runExample(name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-ffi", "--v8-flags=--no-liftoff", name],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

for (const name of ["examples/train_tiny.ts", "examples/classify.ts"]) {
  Deno.test(`README shows ${name} verbatim`, async () => {
    const source = await Deno.readTextFile(join(ROOT, name));
    assert.ok(
      readme.includes("```ts ignore\n" + source + "```"),
      `README.md lacks ${name} as it is`,
    );
  });
}

Deno.test("examples/train_tiny.ts: at most 20 lines, and its loss falls epoch by epoch", async () => {
  const source = await Deno.readTextFile(join(ROOT, "examples/train_tiny.ts"));
  assert.ok(source.trimEnd().split("\n").length <= 20);
  const r = await runExample("examples/train_tiny.ts");
  assert.equal(r.code, 0, r.stderr);
  const losses = [...r.stdout.matchAll(/^epoch \d+: loss ([\d.]+), test accuracy ([\d.]+)$/gm)]
    .map((m) => Number(m[1]));
  assert.equal(losses.length, 3, r.stdout);
  assert.ok(losses[1] < losses[0] && losses[2] < losses[1], `losses ${losses}`);
});

Deno.test("examples/classify.ts prints the class of a test image, nothing else on stdout", async () => {
  const r = await runExample("examples/classify.ts");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^test image 0: (\w+) \(labelled (\w+)\)\n$/);
});

Deno.test("the README's accuracy of the shipped CNN-SA on the sample is evaluate()'s", async () => {
  const stated = readme.match(
    /shipped CNN-SA\s+classifies ([\d.]+) % of the sample's 200 test images/,
  );
  assert.ok(stated, "README states the shipped CNN-SA's accuracy on the sample");
  const { test } = await loadCifar10(decodeURIComponent(SAMPLE_DIR.pathname));
  assert.equal(test.size, 200);
  const { spec, params } = await loadPretrained("cnn-hour");
  const { accuracy } = await evaluate(spec, params, test);
  assert.equal((100 * accuracy).toFixed(1), stated[1]);
});
