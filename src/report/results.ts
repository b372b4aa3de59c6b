/**
 * What a comparison's report is made from (`results.json`): a leaf module,
 * so the report renders it without importing the code that runs comparisons.
 *
 * @module
 */
import type { ModelKind } from "../models/presets.ts";
import type { ModelResult, PairedResult } from "./aggregate.ts";

/** A finished run shown beside the comparison at its own budget. */
export interface ReferenceRun {
  /** `kind:preset`. */
  key: string;
  /** Which model. */
  model: ModelKind;
  /** Its preset. */
  preset: string;
  /** Parameter count. */
  params: number;
  /** Epochs it trained. */
  epochs: number;
  /** Training seconds. */
  trainSeconds: number;
  /** What ended training: `epochs` or `minutes`. */
  stoppedBy: string;
  /** Final test accuracy with its test-time augmentation. */
  testAccuracy: number;
  /** Final test accuracy from one view. */
  testAccuracyPlain: number;
  /** The views `testAccuracy` averaged. */
  tta: string;
  /** The run folder, relative to the comparison's folder (a link from its report). */
  dir: string;
}

/** `results.json`. */
export interface CompareResults {
  /** `epochs` when every run had the same epoch budget, else `minutes`. */
  budget: "epochs" | "minutes";
  /** Epochs per run (the budget when `budget` is `epochs`). */
  epochs: number;
  /** Minutes per run (the budget when `budget` is `minutes`). */
  minutes: number;
  /** Runs per model. */
  seeds: number;
  /** Training images per run. */
  trainImages: number;
  /** Test images per run. */
  testImages: number;
  /** Relative parameter gap of the matched pair. */
  paramGap: number;
  /** One result per model, in the order asked for. */
  models: ModelResult[];
  /** Paired differences: the matched pair, then ablations. */
  pairs: PairedResult[];
  /** Runs shown beside the comparison at their own budget. */
  references: ReferenceRun[];
  /** Plot files written beside `results.json`. */
  plots: string[];
}
