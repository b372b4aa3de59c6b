import assert from "node:assert/strict";
import { join } from "node:path";
import { extractTarGz, readTar } from "../src/data/tar.ts";

/** A minimal ustar archive of the given entries. */
function tar(entries: { name: string; data?: string; type?: string }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const data = new TextEncoder().encode(e.data ?? "");
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(new TextEncoder().encode(s), at);
    put(e.name, 0);
    put("0000644\0", 100);
    put(data.length.toString(8).padStart(11, "0") + "\0", 124);
    put(e.type ?? "0", 156);
    put("ustar\0" + "00", 257);
    put("        ", 148);
    const sum = h.reduce((a, b) => a + b, 0);
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(h);
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((s, b) => s + b.length, 0));
  let at = 0;
  for (const b of blocks) out.set(b, (at += b.length) - b.length);
  return out;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test("extractTarGz() extracts files and folders into the target", async () => {
  const dir = await Deno.makeTempDir();
  const gz = await gzip(
    tar([{ name: "cifar/", type: "5" }, { name: "cifar/a.bin", data: "hello" }]),
  );
  assert.deepEqual(await extractTarGz(gz, dir), ["cifar/", "cifar/a.bin"]);
  assert.equal(await Deno.readTextFile(join(dir, "cifar/a.bin")), "hello");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("extractTarGz() refuses '..', absolute paths and links, and writes nothing", async () => {
  for (
    const bad of [
      { name: "../evil.txt" },
      { name: "ok/../../evil.txt" },
      { name: "/tmp/evil.txt" },
      { name: "link", type: "2" },
    ]
  ) {
    const dir = await Deno.makeTempDir();
    const gz = await gzip(tar([{ name: "good.txt", data: "x" }, { ...bad, data: "boom" }]));
    await assert.rejects(extractTarGz(gz, join(dir, "out")), /Refusing archive entry/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], `nothing written for ${bad.name}`);
    await Deno.remove(dir, { recursive: true });
  }
  const whole = tar([{ name: "a", data: "abc" }]);
  assert.throws(
    () => [...readTar(whole.subarray(0, 514))],
    /Truncated archive: entry "a" needs 3 bytes/,
  );
  assert.throws(() => [...readTar(whole.subarray(0, 1024))], /Truncated archive: it ends without/);
});
