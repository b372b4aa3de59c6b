/**
 * What a run writes besides its checkpoint: a `metrics.jsonl` line per epoch
 * and `summary.json` at the end. A leaf module: the loop, the checkpoint, the
 * run folder and the report all read these types, and import nothing else
 * through it.
 *
 * @module
 */
import type { TestTimeAugmentation } from "./evaluate.ts";

/** One line of `metrics.jsonl`. */
export interface EpochMetrics {
  /** The epoch just finished (1-based). */
  epoch: number;
  /** Steps so far. */
  step: number;
  /** Mean training loss over the epoch. */
  trainLoss: number;
  /** Training accuracy over the epoch (augmented images). */
  trainAccuracy: number;
  /** Test accuracy after the epoch (one view). */
  testAccuracy: number;
  /** Per-class test accuracy after the epoch. */
  perClassAccuracy: number[];
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Training seconds so far (evaluation excluded). */
  trainSeconds: number;
  /** Training throughput of the epoch. */
  imagesPerSecond: number;
}

/** `summary.json`. */
export interface TrainSummary {
  /** Which model. */
  model: string;
  /** Its preset. */
  preset: string;
  /** Parameter count. */
  params: number;
  /** Forward FLOPs per image. */
  flopsPerImage: number;
  /** Epochs finished. */
  epochs: number;
  /** Steps taken. */
  steps: number;
  /** Training images. */
  trainImages: number;
  /** Test images. */
  testImages: number;
  /** Training seconds (evaluation excluded). */
  trainSeconds: number;
  /** Training throughput over the run. */
  imagesPerSecond: number;
  /** Final test accuracy, with the test-time augmentation `tta` names. */
  testAccuracy: number;
  /** The views `testAccuracy` averaged. */
  tta: TestTimeAugmentation;
  /** Final test accuracy without test-time augmentation. */
  testAccuracyPlain: number;
  /** Best test accuracy from one view: per epoch, or the final one-view evaluation. */
  bestTestAccuracy: number;
  /** Per-class final test accuracy. */
  perClassAccuracy: number[];
  /** Final confusion counts `[label][predicted]`. */
  confusion: number[][];
  /** The backend used (`webgpu`, `fast`, `wasm`, `cpu`). */
  backend: string;
  /** The backend line printed at the start. */
  backendDescription: string;
  /** Whether the epoch count or the time budget ended training. */
  stoppedBy: "epochs" | "minutes";
  /** The run folder. */
  out: string;
}
