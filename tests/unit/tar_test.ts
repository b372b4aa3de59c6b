import assert from "node:assert/strict";
import { join } from "node:path";
import { extractTarGz, readTar } from "../../src/data/tar.ts";

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

/** The names of everything under `dir`, relative to it, sorted. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    names.push(e.isDirectory ? `${name}/` : name);
    if (e.isDirectory) names.push(...await tree(dir, name));
  }
  return names.sort();
}

/** A data folder as users have it: the shipped sample and an older CIFAR-10 copy. */
async function dataFolder(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(join(dir, "sample"));
  await Deno.writeTextFile(join(dir, "sample/keep.bin"), "sample");
  await Deno.mkdir(join(dir, "cifar-10-batches-bin"));
  await Deno.writeTextFile(join(dir, "cifar-10-batches-bin/old.bin"), "old");
  return dir;
}

Deno.test("extractTarGz() extracts files and folders into the target", async () => {
  const dir = await Deno.makeTempDir();
  const gz = await gzip(
    tar([{ name: "cifar-10-batches-bin/", type: "5" }, {
      name: "cifar-10-batches-bin/a.bin",
      data: "hello",
    }]),
  );
  assert.deepEqual(await extractTarGz(gz, dir), [
    "cifar-10-batches-bin/",
    "cifar-10-batches-bin/a.bin",
  ]);
  assert.equal(await Deno.readTextFile(join(dir, "cifar-10-batches-bin/a.bin")), "hello");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("extractTarGz() skips a './' entry and replaces only cifar-10-batches-bin", async () => {
  const dir = await dataFolder();
  const gz = await gzip(tar([
    { name: "./", type: "5" },
    { name: "./cifar-10-batches-bin/", type: "5" },
    { name: "./cifar-10-batches-bin/test_batch.bin", data: "new" },
  ]));
  assert.deepEqual(await extractTarGz(gz, dir), [
    "cifar-10-batches-bin/",
    "cifar-10-batches-bin/test_batch.bin",
  ]);
  assert.deepEqual(await tree(dir), [
    "cifar-10-batches-bin/",
    "cifar-10-batches-bin/test_batch.bin",
    "sample/",
    "sample/keep.bin",
  ]);
  assert.equal(await Deno.readTextFile(join(dir, "cifar-10-batches-bin/test_batch.bin")), "new");
  await assert.rejects(Deno.stat(`${dir}.partial-${Deno.pid}`), Deno.errors.NotFound);
  assert.deepEqual([...readTar(tar([{ name: "", type: "5" }, { name: ".", type: "5" }]))], []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("extractTarGz() refuses a top-level sample/ entry and leaves data/sample alone", async () => {
  const dir = await dataFolder();
  const before = await tree(dir);
  for (
    const entries of [
      [{ name: "sample/", type: "5" }, { name: "sample/evil.bin", data: "x" }],
      [{ name: "cifar-10-batches-bin/a.bin", data: "a" }, { name: "notes.txt", data: "n" }],
      [{ name: "cifar-10-batches-bin", data: "a file, not the folder" }],
    ]
  ) {
    await assert.rejects(
      extractTarGz(await gzip(tar(entries)), dir),
      /Refusing archive entry ".*": this archive should hold only the folder cifar-10-batches-bin\//,
    );
    assert.deepEqual(await tree(dir), before);
    assert.equal(await Deno.readTextFile(join(dir, "sample/keep.bin")), "sample");
  }
  await assert.rejects(
    extractTarGz(await gzip(tar([{ name: "./", type: "5" }])), dir),
    /The archive holds no cifar-10-batches-bin\/ folder/,
  );
  assert.deepEqual(await tree(dir), before);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("extractTarGz() keeps the old copy when writing the new one fails", async () => {
  const dir = await dataFolder();
  const before = await tree(dir);
  // A file, then a file inside it: the second write fails halfway through.
  const gz = await gzip(tar([
    { name: "cifar-10-batches-bin/a", data: "1" },
    { name: "cifar-10-batches-bin/a/b", data: "2" },
  ]));
  await assert.rejects(extractTarGz(gz, dir));
  assert.deepEqual(await tree(dir), before, "old copy kept, nothing left over");
  assert.equal(await Deno.readTextFile(join(dir, "cifar-10-batches-bin/old.bin")), "old");
  await assert.rejects(Deno.stat(`${dir}.partial-${Deno.pid}`), Deno.errors.NotFound);
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
