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
export * from "../report/compare.ts";
export * from "../report/report.ts";
