import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "../../src/core/rng.ts";
import { CIFAR_MEAN, CIFAR_STD, fillBatch } from "../../src/data/batches.ts";
import {
  IMAGE_BYTES,
  type ImageSet,
  loadCifar10,
  loadTestSet,
  parseBatch,
  RECORD_BYTES,
} from "../../src/data/cifar.ts";
import { dataDir } from "../../src/train/config.ts";

/** n records whose label is i % 10 and whose pixels are all `i`. */
function records(n: number, label = (i: number) => i % 10): Uint8Array {
  const bytes = new Uint8Array(n * RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    bytes[i * RECORD_BYTES] = label(i);
    bytes.fill(i % 256, i * RECORD_BYTES + 1, (i + 1) * RECORD_BYTES);
  }
  return bytes;
}

async function folder(files: Record<string, Uint8Array>): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const [name, bytes] of Object.entries(files)) await Deno.writeFile(join(dir, name), bytes);
  return dir;
}

Deno.test("loadCifar10() reads the binary layout from synthetic files", async () => {
  const dir = await folder({
    "data_batch_1.bin": records(5),
    "data_batch_2.bin": records(3),
    "test_batch.bin": records(4),
  });
  const data = await loadCifar10(dir);
  assert.equal(data.train.size, 8);
  assert.equal(data.test.size, 4);
  assert.deepEqual([...data.train.labels], [0, 1, 2, 3, 4, 0, 1, 2]);
  assert.equal(data.train.images[6 * IMAGE_BYTES], 1); // record 1 of the second file
  const small = await loadCifar10(dir, { trainSize: 2, testSize: 1 });
  assert.deepEqual([small.train.size, small.test.size], [2, 1]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadCifar10() names the file and problem for corrupt or missing data", async () => {
  const truncated = await folder({
    "data_batch_1.bin": records(2).subarray(0, 5000),
    "test_batch.bin": records(1),
  });
  await assert.rejects(
    loadCifar10(truncated),
    /data_batch_1\.bin: 5000 bytes is not a whole number of 3073-byte/,
  );
  const badLabel = await folder({
    "data_batch_1.bin": records(3, (i) => (i === 2 ? 11 : 0)),
    "test_batch.bin": records(1),
  });
  await assert.rejects(loadCifar10(badLabel), /data_batch_1\.bin: record 2 has label 11/);
  const gap = await folder({
    "data_batch_1.bin": records(1),
    "data_batch_3.bin": records(1),
    "test_batch.bin": records(1),
  });
  await assert.rejects(
    loadCifar10(gap),
    /data_batch_2\.bin is missing but data_batch_3\.bin exists/,
  );
  const empty = await Deno.makeTempDir();
  await assert.rejects(loadCifar10(empty), /No CIFAR-10 binary files in .*deno task data.*--data/);
  for (const d of [truncated, badLabel, gap, empty]) await Deno.remove(d, { recursive: true });
  assert.throws(() => parseBatch(new Uint8Array(0), "x.bin"), /x\.bin: 0 bytes/);
});

Deno.test("loadTestSet() reads only test_batch.bin: training batches may be absent or truncated", async () => {
  const only = await folder({ "test_batch.bin": records(4) });
  const { test, dir } = await loadTestSet(only);
  assert.equal(dir, only);
  assert.deepEqual([...test.labels], [0, 1, 2, 3]);
  assert.equal((await loadTestSet(only, { testSize: 2 })).test.size, 2);
  await assert.rejects(loadCifar10(only), /data_batch_1\.bin is missing/);
  const truncated = await folder({
    "data_batch_1.bin": records(2).subarray(0, 5000),
    "test_batch.bin": records(3),
  });
  assert.equal((await loadTestSet(truncated)).test.size, 3);
  for (const d of [only, truncated]) await Deno.remove(d, { recursive: true });
});

Deno.test("loadCifar10() says a file given as the data folder is not a folder", async () => {
  const dir = await folder({ "test_batch.bin": records(1) });
  const file = join(dir, "test_batch.bin");
  for (const load of [loadCifar10, loadTestSet]) {
    await assert.rejects(load(file), {
      message: `"${file}" is a file, not a folder: --data (or CIFAR10_DIR) names the folder that ` +
        `holds test_batch.bin and data_batch_1.bin .. data_batch_5.bin, or "sample".`,
    });
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the shipped sample loads: 1,000 training and 200 test images", async () => {
  const data = await loadCifar10(dataDir("sample"));
  assert.equal(data.train.size, 1000);
  assert.equal(data.test.size, 200);
});

Deno.test("fillBatch() normalises per channel and keeps the order of the indices", () => {
  const set = parseBatch(records(4), "mem");
  const out = new Float32Array(4 * 3072), labels = new Int32Array(4);
  fillBatch(set, [3, 0, 1, 2], out, labels, null);
  assert.deepEqual([...labels], [3, 0, 1, 2]);
  assert.ok(Math.abs(out[0] - (3 / 255 - CIFAR_MEAN[0]) / CIFAR_STD[0]) < 1e-6);
  assert.ok(Math.abs(out[2] - (3 / 255 - CIFAR_MEAN[2]) / CIFAR_STD[2]) < 1e-6);
  assert.throws(() => fillBatch(set, [9], out, labels, null), /index 9 outside the 4 images/);
});

/**
 * One image whose every pixel says where it is: red = 8·column + 1, green =
 * 8·row + 1, blue = 7 (CIFAR-10's planar layout: the red plane, then green, then blue).
 */
function gridImage(): ImageSet {
  const images = new Uint8Array(IMAGE_BYTES);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      images[y * 32 + x] = 8 * x + 1;
      images[1024 + y * 32 + x] = 8 * y + 1;
      images[2048 + y * 32 + x] = 7;
    }
  }
  return { images, labels: new Uint8Array([4]), size: 1 };
}

/**
 * Where each output pixel of a filled image came from: [row, column] in the
 * source image, or null for padding (zero in every channel).
 */
function sources(out: Float32Array, image: number): ([number, number] | null)[][] {
  const byte = (v: number, c: number) => Math.round((v * CIFAR_STD[c] + CIFAR_MEAN[c]) * 255);
  return Array.from({ length: 32 }, (_, y) =>
    Array.from({ length: 32 }, (_, x) => {
      const o = (image * 1024 + y * 32 + x) * 3;
      if (out[o] === 0 && out[o + 1] === 0 && out[o + 2] === 0) return null;
      assert.equal(byte(out[o + 2], 2), 7);
      return [(byte(out[o + 1], 1) - 1) / 8, (byte(out[o], 0) - 1) / 8] as [number, number];
    }));
}

Deno.test("fillBatch() augments with an exact shifted crop (zero padding) and an exact mirror", () => {
  const set = gridImage(), n = 64;
  const out = new Float32Array(n * 3072), labels = new Int32Array(n);
  fillBatch(set, new Array(n).fill(0), out, labels, null);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) assert.deepEqual(sources(out, 0)[y][x], [y, x]);
  }
  fillBatch(set, new Array(n).fill(0), out, labels, new Rng(5));
  const seen = new Set<string>();
  let flips = 0;
  for (let i = 0; i < n; i++) {
    const src = sources(out, i);
    // The centre pixel is inside any crop of at most 4 pixels: it gives the
    // shift, and its right neighbour a mirror (columns count down, not up).
    const [y0, x0] = [16, 16], [sy, sx] = src[y0][x0]!;
    const [, nextX] = src[y0][x0 + 1]!;
    const flip = nextX === sx - 1;
    assert.ok(flip || nextX === sx + 1, `image ${i}: columns ${sx}, ${nextX} are not adjacent`);
    const dy = sy - y0, dx = flip ? sx - (31 - x0) : sx - x0;
    assert.ok(Math.abs(dy) <= 4 && Math.abs(dx) <= 4, `image ${i}: shift ${dy}, ${dx}`);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const [ey, ex] = [y + dy, (flip ? 31 - x : x) + dx];
        const inside = ey >= 0 && ey < 32 && ex >= 0 && ex < 32;
        assert.deepEqual(src[y][x], inside ? [ey, ex] : null, `image ${i} at (${y}, ${x})`);
      }
    }
    seen.add(`${dy},${dx}`);
    flips += flip ? 1 : 0;
  }
  assert.deepEqual([...labels], new Array(n).fill(4));
  assert.ok(seen.size >= 20, `only ${seen.size} distinct shifts in ${n} images`);
  assert.ok(flips > n / 4 && flips < (3 * n) / 4, `${flips} of ${n} images mirrored`);
  // The same seed gives the same crops and mirrors.
  const again = new Float32Array(n * 3072);
  fillBatch(set, new Array(n).fill(0), again, labels, new Rng(5));
  assert.deepEqual(again, out);
});
