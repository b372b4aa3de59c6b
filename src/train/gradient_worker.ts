/**
 * A gradient worker's thread (see {@linkcode GradientWorkers}): it builds the
 * model from its shape, then answers each request with the summed loss,
 * correct count and gradients of its micro-batches at the parameters sent.
 * Asked to close, it releases its tensors and native BLAS itself, says so,
 * and ends.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs";
import { closeBlas } from "../backend/select.ts";
import { selectBackend } from "../backend/select.ts";
import { leaves, type ParamTree, splitBuffers, unflatten } from "../core/params.ts";
import { Rng } from "../core/rng.ts";
import { brand } from "../core/tensor.ts";
import { cnnSpec, type ModelSpec, vitSpec } from "../models/presets.ts";
import type { CNNConfig } from "../models/cnn.ts";
import type { ViTConfig } from "../models/vit.ts";
import { partGradients } from "./part_gradients.ts";
import { currentThreadId, type WorkerReply, type WorkerRequest } from "./gradient_workers.ts";

let model: { spec: ModelSpec; trainable: ParamTree; buffers: ParamTree | null } | null = null;

function reply(message: WorkerReply, transfer: Transferable[] = []) {
  self.postMessage(message, transfer);
}

/** Tensors shaped like `template`'s leaves, holding `values`. */
function tensorsLike(template: ParamTree, values: Float32Array[]): ParamTree {
  const shapes = leaves(template).map((t) => t.shape);
  if (shapes.length !== values.length) {
    throw new Error(`expected ${shapes.length} parameter arrays, got ${values.length}`);
  }
  return unflatten(template, values.map((v, i) => tf.tensor(v, shapes[i])));
}

function gradients(request: Extract<WorkerRequest, { type: "grads" }>): WorkerReply {
  if (!model) throw new Error("gradient worker: asked for gradients before init");
  const trainable = tensorsLike(model.trainable, request.trainable);
  const buffers = model.buffers && request.buffers
    ? tensorsLike(model.buffers, request.buffers)
    : null;
  const size = request.labels.length / request.seeds.length;
  let value = 0, correct = 0;
  let sums: tf.Tensor[] | null = null;
  try {
    request.seeds.forEach((seed, i) => {
      const images = brand(
        tf.tensor4d(request.images.subarray(i * size * 3072, (i + 1) * size * 3072), [
          size,
          32,
          32,
          3,
        ]),
        ["batch", "height", "width", "channels"],
      );
      const labels = tf.tensor1d(request.labels.subarray(i * size, (i + 1) * size), "int32");
      let r: ReturnType<typeof partGradients>;
      try {
        r = partGradients(
          model!.spec.apply,
          trainable,
          buffers,
          images,
          labels,
          request.labelSmoothing,
          new Rng(seed),
        );
      } finally {
        tf.dispose([images, labels]);
      }
      value += r.value.dataSync()[0];
      correct += r.correct.dataSync()[0];
      tf.dispose([r.value, r.correct]);
      if (!sums) sums = r.grads;
      else {
        const next: tf.Tensor[] = sums.map((s, j) => tf.add(s, r.grads[j]));
        tf.dispose([...sums, ...r.grads]);
        sums = next;
      }
    });
    // Own buffers, so they can be transferred (a view of the wasm heap must not be).
    const grads = sums!.map((g) => {
      const a = g.dataSync() as Float32Array;
      return a.byteLength === a.buffer.byteLength ? a : a.slice();
    });
    return { type: "grads", id: request.id, value, correct, grads };
  } finally {
    if (sums) tf.dispose(sums);
    tf.dispose(leaves(trainable));
    if (buffers) tf.dispose(leaves(buffers));
  }
}

/**
 * What the thread holds outside the JS heap, released by the thread itself
 * before it ends: tensors, and its handle on the native BLAS library (FFI).
 */
function release() {
  if (model) {
    tf.dispose([...leaves(model.trainable), ...(model.buffers ? leaves(model.buffers) : [])]);
    model = null;
  }
  tf.disposeVariables();
  closeBlas();
}

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const request = e.data;
  if (request.type === "close") {
    // No request follows; whatever fails here, the thread still ends.
    let message: string | undefined;
    try {
      release();
    } catch (err) {
      message = err instanceof Error ? err.message : String(err);
    }
    const thread = currentThreadId(); // to be waited for
    reply({ type: "closed", ...(thread ? { thread } : {}), ...(message ? { message } : {}) });
    self.close();
    return;
  }
  try {
    if (request.type === "init") {
      await selectBackend(request.backend, true);
      const spec = request.kind === "vit"
        ? vitSpec(request.config as ViTConfig, request.preset)
        : cnnSpec(request.config as CNNConfig, request.preset);
      // The parameter tree's structure and shapes, to rebuild what each request sends.
      model = { spec, ...splitBuffers(spec.init(new Rng(0))) };
      reply({ type: "ready" });
    } else {
      const r = gradients(request);
      reply(r, r.type === "grads" ? r.grads.map((g) => g.buffer) : []);
    }
  } catch (err) {
    reply({
      type: "error",
      id: request.type === "grads" ? request.id : -1,
      message: err instanceof Error ? err.stack ?? err.message : String(err),
    });
  }
};
