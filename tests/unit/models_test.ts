import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { countParams, disposeTree, type ParamTree } from "../../src/core/params.ts";
import { requestAdapter } from "../../src/backend/webgpu/webgpu.ts";
import { Rng } from "../../src/core/rng.ts";
import { brand } from "../../src/core/tensor.ts";
import { cnnAttentionMaps, type CNNConfig, type CNNParams } from "../../src/models/cnn.ts";
import {
  CNN_PRESETS,
  MATCHED_PRESETS,
  modelSpec,
  presetNames,
  VIT_PRESETS,
  vitSpec,
} from "../../src/models/presets.ts";
import { numPatches, vitAttentionMaps, type ViTParams } from "../../src/models/vit.ts";
import { seeded, setup } from "../_setup.ts";

await setup();

const images = () => brand(seeded([2, 32, 32, 3], 1), ["batch", "height", "width", "channels"]);

Deno.test("both models give [batch, 10] logits; parameter counts match the formula", () => {
  for (const preset of ["tiny", "small"]) {
    for (const kind of ["cnn", "vit"] as const) {
      const spec = modelSpec(kind, preset);
      const params = spec.init(new Rng(0));
      const x = images();
      const logits = spec.apply(params, x, null);
      assert.deepEqual(logits.shape, [2, 10], `${kind} ${preset}`);
      assert.ok(logits.dataSync().every(Number.isFinite));
      assert.equal(countParams(params), spec.paramCount, `${kind} ${preset}`);
      tf.dispose([logits, x]);
      disposeTree(params);
    }
  }
});

Deno.test("matched presets come in pairs within 5% of each other's parameter count", () => {
  for (const preset of MATCHED_PRESETS) {
    const c = modelSpec("cnn", preset).paramCount, v = modelSpec("vit", preset).paramCount;
    assert.ok(Math.abs(c - v) / v <= 0.05, `${preset}: cnn ${c} vs vit ${v}`);
  }
  const small = modelSpec("vit", "small").paramCount, base = modelSpec("vit", "base").paramCount;
  assert.ok(small >= 300_000 && small <= 600_000, `small ViT has ${small}`);
  assert.ok(base <= 1_000_000, `base ViT has ${base}`);
});

Deno.test("every preset's parameter count matches its formula, and the hour family stays within 1M", () => {
  for (const kind of ["cnn", "vit"] as const) {
    for (const preset of presetNames(kind)) {
      const spec = modelSpec(kind, preset);
      const params = spec.init(new Rng(0));
      assert.equal(countParams(params), spec.paramCount, `${kind} ${preset}`);
      if (preset.startsWith("hour")) {
        assert.ok(spec.paramCount <= 1_000_000, `${kind} ${preset}: ${spec.paramCount}`);
      }
      disposeTree(params);
    }
  }
});

Deno.test("cnn:hour and vit:hour-deep match within 5%; cnn:hour-noattn is cnn:hour without attention", () => {
  const cnn = modelSpec("cnn", "hour"), vit = modelSpec("vit", "hour-deep");
  assert.equal(vit.paramCount, 957_962);
  assert.ok(Math.abs(cnn.paramCount - vit.paramCount) / vit.paramCount <= 0.05);
  const ablation = modelSpec("cnn", "hour-noattn");
  const params = ablation.init(new Rng(0)) as { stages: { attn?: unknown }[] };
  assert.ok(params.stages.every((s) => !s.attn), "no attention parameters");
  assert.deepEqual(
    (ablation.config as CNNConfig).stages.map((s) => s.width),
    (cnn.config as CNNConfig).stages.map((s) => s.width),
  );
  assert.equal(ablation.paramCount, 773_562);
  disposeTree(params as unknown as ParamTree);
  assert.throws(() => modelSpec("vit", "hour-noattn"), /Unknown vit preset "hour-noattn"/);
});

Deno.test("attention maps have one row per query over all keys", () => {
  const vit = modelSpec("vit", "tiny"), cnn = modelSpec("cnn", "tiny");
  const pv = vit.init(new Rng(0)) as ViTParams, pc = cnn.init(new Rng(0)) as CNNParams;
  const x = images();
  const vm = vitAttentionMaps(pv, x, VIT_PRESETS.tiny);
  assert.equal(vm.length, VIT_PRESETS.tiny.depth);
  assert.deepEqual(vm[0].shape, [2, VIT_PRESETS.tiny.heads, 65, 65]);
  const cm = cnnAttentionMaps(pc, x, CNN_PRESETS.tiny);
  assert.deepEqual(cm.map((m) => m.stage), [0, 1, 3]);
  assert.deepEqual(cm[0].weights.shape, [2, 1, 256, 256]);
  const rowSums = tf.sum(cm[0].weights, -1);
  assert.ok(rowSums.dataSync().every((s) => Math.abs(s - 1) < 1e-4));
  tf.dispose([x, rowSums, ...vm, ...cm.map((m) => m.weights)]);
  disposeTree(pv);
  disposeTree(pc);
});

Deno.test("models reject images of the wrong size, naming the shape", () => {
  const spec = modelSpec("vit", "tiny");
  const params = spec.init(new Rng(0));
  const x = brand(tf.zeros([1, 28, 28, 3]), ["batch", "height", "width", "channels"]);
  assert.throws(() => spec.apply(params, x, null), /ViT input .*got shape \[1,28,28,3\]/);
  assert.throws(() => modelSpec("vit", "huge"), /Unknown vit preset "huge"/);
  x.dispose();
  disposeTree(params);
});

// Through our probe, which keeps Mesa from printing "XDG_RUNTIME_DIR is invalid".
const adapter = await requestAdapter();

Deno.test({
  name: "both models' forward results agree on cpu and webgpu within 1e-4",
  ignore: !adapter,
  fn: async () => {
    await import("@tensorflow/tfjs-backend-webgpu");
    const previous = tf.getBackend();
    const results: Record<string, number[][]> = {};
    for (const backend of ["cpu", "webgpu"]) {
      await tf.setBackend(backend);
      results[backend] = [];
      for (const kind of ["cnn", "vit"] as const) {
        const spec = modelSpec(kind, "tiny");
        const params = spec.init(new Rng(0));
        const x = images();
        const logits = spec.apply(params, x, null);
        results[backend].push(Array.from(await logits.data())); // webgpu has no dataSync here
        tf.dispose([logits, x]);
        disposeTree(params);
      }
    }
    await tf.setBackend(previous);
    for (const i of [0, 1]) {
      const diff = Math.max(...results.cpu[i].map((v, j) => Math.abs(v - results.webgpu[i][j])));
      assert.ok(diff <= 1e-4, `${["cnn", "vit"][i]}: cpu and webgpu differ by ${diff}`);
    }
  },
});

Deno.test("a ViT with a convolutional tokenizer cuts patches from the smaller feature map", () => {
  const config = { ...VIT_PRESETS.tiny, tokenizer: [8, 16], patchSize: 2 };
  assert.equal(numPatches(config), 16); // 32 -> 8 after two poolings, 2x2 patches
  const spec = vitSpec(config);
  const params = spec.init(new Rng(0)) as ViTParams;
  assert.deepEqual(params.tokenizer!.map((c) => c.w.shape), [[3, 3, 3, 8], [3, 3, 8, 16]]);
  assert.deepEqual(params.posEmbed.shape, [1, 17, config.dim]);
  const x = images();
  const logits = spec.apply(params, x, null);
  assert.deepEqual(logits.shape, [2, 10]);
  assert.equal(countParams(params), spec.paramCount);
  assert.throws(
    () => numPatches({ ...config, patchSize: 3 }),
    /tokenizer output size 8 is not divisible by patch size 3/,
  );
  tf.dispose([x, logits]);
  disposeTree(params);
});
