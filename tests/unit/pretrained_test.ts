// loadPretrained(): the shipped weights by name, checked by SHA-256, from
// the package's own files, also when the package is a copy outside the
// repository (as a user's cache holds it).
import assert from "node:assert/strict";
import { join } from "node:path";
import { countParams, disposeTree, loadPretrained, PRETRAINED } from "../../mod.ts";
import { ROOT } from "../_tasks.ts";
import { setup } from "../_setup.ts";

await setup();

Deno.test("loadPretrained() gives each shipped model its preset's shape", async () => {
  for (const name of Object.keys(PRETRAINED) as (keyof typeof PRETRAINED)[]) {
    const { spec, params } = await loadPretrained(name);
    assert.equal(`${spec.kind}-${spec.preset}`, name);
    assert.equal(countParams(params), spec.paramCount);
    disposeTree(params);
  }
});

Deno.test("loadPretrained() refuses a file whose SHA-256 is not the shipped one, and unknown names", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = await Deno.readFile(join(ROOT, "weights/vit-hour.safetensors"));
    bytes[bytes.length - 1] ^= 1; // one bit of one weight
    await Deno.writeFile(join(dir, "vit-hour.safetensors"), bytes);
    await assert.rejects(
      loadPretrained("vit-hour", { baseUrl: new URL(`file://${dir}/`) }),
      /SHA-256 [0-9a-f]{64} is not the shipped vit-hour's/,
    );
    await assert.rejects(
      loadPretrained("resnet" as "vit-hour"),
      /No pretrained model "resnet"; choose one of cnn-hour, vit-hour/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
