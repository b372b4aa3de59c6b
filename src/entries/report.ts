/**
 * The equal-budget comparison of the two models, in Deno: train both (or
 * reuse finished runs), then write `report.md`, `results.json` and PNG + SVG
 * plots (curves, per-class accuracy, confusion matrices, attention maps) to
 * a folder. The attention maps as data (`vitClassAttention`,
 * `cnnQueryAttention`) are platform-neutral and live in the root entry.
 *
 * @example Train the tiny pair for one epoch each and write the report
 * ```ts ignore
 * import { compare, parseModels } from "@vision-attention/sa/report";
 * const { results } = await compare({
 *   models: parseModels("cnn:tiny,vit:tiny"),
 *   epochs: 1,
 *   minutes: 0,
 *   seeds: 1,
 *   data: "data/cifar-10-batches-bin",
 *   backend: "auto",
 *   out: "runs/compare-tiny",
 * });
 * console.log(results.models.map((m) => `${m.key}: ${m.finalTestAccuracy.mean}`));
 * ```
 *
 * @module
 */
// Running a comparison (src/compare/) ...
export { compare } from "../compare/compare.ts";
export {
  hasAttention,
  matchedPair,
  MAX_PARAM_GAP,
  type ModelId,
  parseModels,
} from "../compare/models.ts";
export { type CompareOptions, type Plan, readPlan, runConfig } from "../compare/plan.ts";
export { PendingRunsError } from "../compare/runs.ts";
// ... and rendering its results (src/report/).
export type { CompareResults, ReferenceRun } from "../report/results.ts";
export {
  aggregate,
  type MeasuredSpeed,
  type ModelResult,
  paired,
  type PairedResult,
  type Stat,
  stat,
} from "../report/aggregate.ts";
export { readRun, type RunRecord } from "../report/run_record.ts";
export { findings, renderReport, seedTable, summaryTable } from "../report/report.ts";
