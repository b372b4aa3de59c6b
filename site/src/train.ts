/**
 * Training the tiny ViT in the page: the loop of `deno task train:vit
 * --data sample --preset tiny`, step for step (seeded order, augmentation,
 * warmup + cosine schedule, the same `trainStep` and AdamW), without the
 * run folder. Evaluates on the shipped test images after each epoch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  brand,
  defaultConfig,
  disposeTree,
  evaluate,
  fillBatch,
  type ImageSet,
  initAdamW,
  learningRate,
  modelSpec,
  optimizerOf,
  type ParamTree,
  Rng,
  scheduleOf,
  splitBuffers,
  stepParams,
} from "@vision-attention/sa";

/** What the page hears after each step. */
export interface StepReport {
  epoch: number;
  epochs: number;
  /** Steps so far, and in all. */
  step: number;
  totalSteps: number;
  loss: number;
  imagesPerSecond: number;
}

/** Options of {@linkcode trainTinyViT}. */
export interface PageTrainOptions {
  epochs: number;
  /** Stops after the current step. */
  signal: AbortSignal;
  onStep(report: StepReport): void;
  onEpoch(epoch: number, testAccuracy: number): void;
}

/** Train a tiny ViT from seed 0 on `train`; its test accuracy on `test` per epoch. */
export async function trainTinyViT(
  train: ImageSet,
  test: ImageSet,
  options: PageTrainOptions,
): Promise<void> {
  const config = { ...defaultConfig("vit"), preset: "tiny", epochs: options.epochs };
  const spec = modelSpec("vit", "tiny");
  const batchSize = Math.min(config.batchSize, train.size);
  const stepsPerEpoch = Math.floor(train.size / batchSize);
  const schedule = scheduleOf(config, stepsPerEpoch);
  const optimizer = optimizerOf(config);
  const rng = new Rng(config.seed);
  let params: ParamTree = spec.init(rng.fork());
  let state = initAdamW(splitBuffers(params).trainable);
  const pixels = new Float32Array(batchSize * 3072), labels = new Int32Array(batchSize);
  let step = 0;
  const start = performance.now();
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const order = rng.permutation(train.size);
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (options.signal.aborted) return;
        fillBatch(train, order.subarray(s * batchSize, (s + 1) * batchSize), pixels, labels, rng);
        const batch = {
          images: brand(tf.tensor4d(pixels, [batchSize, 32, 32, 3]), [
            "batch",
            "height",
            "width",
            "channels",
          ]),
          labels: tf.tensor1d(labels, "int32"),
        };
        const lr = learningRate(schedule, step);
        const r = await stepParams(spec.apply, params, state, batch, {
          lr,
          labelSmoothing: config.labelSmoothing,
          optimizer,
        }, rng);
        tf.dispose([batch.images, batch.labels]);
        params = r.params;
        state = r.state;
        step++;
        options.onStep({
          epoch,
          epochs: config.epochs,
          step,
          totalSteps: schedule.totalSteps,
          loss: r.loss,
          imagesPerSecond: (step * batchSize) / ((performance.now() - start) / 1000),
        });
        // Let the page paint the curve between steps.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      const result = await evaluate(spec, params, test);
      options.onEpoch(epoch, result.accuracy);
    }
  } finally {
    disposeTree(params);
    disposeTree(state.m);
    disposeTree(state.v);
  }
}
