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
  disposeTree,
  evaluate,
  imageBatch,
  type ImageSet,
  initTrainState,
  learningRate,
  modelSpec,
  optimizerOf,
  resolveConfig,
  Rng,
  scheduleOf,
  trainStep,
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
  const config = resolveConfig("vit", { preset: "tiny", epochs: options.epochs });
  const model = modelSpec("vit", "tiny");
  const batchSize = Math.min(config.batchSize, train.size);
  const stepsPerEpoch = Math.floor(train.size / batchSize);
  const schedule = scheduleOf(config, stepsPerEpoch);
  const optimizer = optimizerOf(config);
  const rng = new Rng(config.seed);
  let state = initTrainState(model, rng.fork());
  let step = 0;
  const start = performance.now();
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const order = rng.permutation(train.size);
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (options.signal.aborted) return;
        const batch = imageBatch(train, order.subarray(s * batchSize, (s + 1) * batchSize), rng);
        const r = await trainStep(model, state, batch, {
          lr: learningRate(schedule, step),
          labelSmoothing: config.labelSmoothing,
          optimizer,
          rng,
        });
        tf.dispose([batch.images, batch.labels]);
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
      const result = await evaluate(model, state.params, test);
      options.onEpoch(epoch, result.accuracy);
    }
  } finally {
    disposeTree(state.params);
    disposeTree(state.optimizer.m);
    disposeTree(state.optimizer.v);
  }
}
