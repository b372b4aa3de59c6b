import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree } from "../../src/core/params.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadParams,
  saveParams,
} from "../../src/core/safetensors.ts";
import { setup } from "../_setup.ts";

await setup();

Deno.test("encodeSafetensors() writes the header the spec describes, byte for byte", () => {
  const bytes = encodeSafetensors([["a", {
    dtype: "F32",
    shape: [2],
    data: new Float32Array([1, -2]),
  }]], { k: "v" });
  const json = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
  const expected = new Uint8Array(8 + padded.length + 8);
  new DataView(expected.buffer).setBigUint64(0, BigInt(padded.length), true);
  expected.set(new TextEncoder().encode(padded), 8);
  expected.set(new Uint8Array(new Float32Array([1, -2]).buffer), 8 + padded.length);
  assert.deepEqual(bytes, expected);
  assert.equal((8 + padded.length) % 8, 0);
  // The data bytes are little-endian float32: 1.0 = 00 00 80 3f.
  assert.deepEqual([...bytes.subarray(8 + padded.length, 12 + padded.length)], [
    0x00,
    0x00,
    0x80,
    0x3f,
  ]);
});

Deno.test("decodeSafetensors() rejects truncated and inconsistent files with the file name", () => {
  const good = encodeSafetensors([["a", {
    dtype: "F32",
    shape: [2],
    data: new Float32Array([1, 2]),
  }]]);
  assert.throws(
    () => decodeSafetensors(good.subarray(0, good.length - 1), "x.safetensors"),
    /x\.safetensors: .*outside/,
  );
  assert.throws(
    () => decodeSafetensors(new Uint8Array(4), "y.safetensors"),
    /y\.safetensors: .*only 4 bytes/,
  );
});

/** A file whose header is `json` verbatim, followed by `dataBytes` zero bytes. */
function withHeader(json: string, dataBytes = 0): Uint8Array {
  const header = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + header.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  return bytes;
}

Deno.test("decodeSafetensors() names the file when the header is null", () => {
  assert.throws(
    () => decodeSafetensors(withHeader("null"), "runs/a/checkpoint.safetensors"),
    /^Error: runs\/a\/checkpoint\.safetensors: not a valid safetensors file: the header is null/,
  );
});

Deno.test("decodeSafetensors() says which part of a malformed header is wrong", () => {
  const entry = '"dtype":"F32","shape":[1],"data_offsets":[0,4]';
  for (
    const [json, why] of [
      ["[1, 2]", /the header is an array, not a JSON object of tensors/],
      ['"text"', /the header is string/],
      [`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, /tensor "a" has no shape .*got undefined/],
      [`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, /tensor "a" has no shape/],
      [`{"a":{"dtype":"F32","shape":[1]}}`, /tensor "a" has no data_offsets/],
      [
        `{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`,
        /tensor "a" has unsupported dtype "F64"/,
      ],
      [`{"a":null}`, /tensor "a" is not an object/],
      [`{"__metadata__":null,"a":{${entry}}}`, /"__metadata__" is not an object of strings/],
      [`{"__metadata__":{"run":{"epoch":1}},"a":{${entry}}}`, /metadata "run" is not a string/],
    ] as const
  ) {
    assert.throws(() => decodeSafetensors(withHeader(json, 8), "f.safetensors"), (e: Error) => {
      assert.match(e.message, /^f\.safetensors: not a valid safetensors file: /, json);
      assert.match(e.message, why, json);
      return true;
    });
  }
  // The same entry with its shape decodes: the checks refuse only what is wrong.
  const ok = decodeSafetensors(withHeader(`{"__metadata__":{"k":"v"},"a":{${entry}}}`, 4), "f");
  assert.deepEqual(ok.tensors.get("a")?.shape, [1]);
  assert.deepEqual(ok.metadata, { k: "v" });
});

Deno.test("saveParams()/loadParams() round-trip a tree; a mismatch names the tensor", async () => {
  const dir = await Deno.makeTempDir();
  const tree = {
    w: tf.tensor2d([[1, 2], [3, 4]]),
    b: tf.tensor1d([0.5]),
    n: tf.tensor1d([7], "int32"),
  };
  await saveParams(`${dir}/p.safetensors`, tree, { note: "hi" });
  const { params, metadata } = await loadParams(`${dir}/p.safetensors`, tree);
  assert.deepEqual(Array.from(params.w.dataSync()), [1, 2, 3, 4]);
  assert.equal(params.n.dtype, "int32");
  assert.equal(metadata.note, "hi");
  const other = { w: tf.zeros([2, 3]), b: tf.zeros([1]), n: tf.zeros([1], "int32") };
  await assert.rejects(
    loadParams(`${dir}/p.safetensors`, other),
    /tensor "w" has shape \[2,2\], the model expects \[2,3\]/,
  );
  const missing = { ...other, extra: tf.zeros([1]) };
  await assert.rejects(loadParams(`${dir}/p.safetensors`, missing), /missing tensors extra/);
  // No temporary file is left behind.
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["p.safetensors"]);
  [tree, params, other, { e: missing.extra }].forEach(disposeTree);
  await Deno.remove(dir, { recursive: true });
});
