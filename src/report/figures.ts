/**
 * The comparison's plots, each written as SVG and (with a font) PNG: curves
 * by epoch and by training time with a ±std band over seeds, per-class
 * accuracy, a confusion matrix per model, and attention maps.
 *
 * @module
 */
import { join } from "node:path";
import { disposeTree } from "../core/params.ts";
import { Rng } from "../core/rng.ts";
import { writeFileAtomic } from "../core/safetensors.ts";
import { imageBatch } from "../data/batches.ts";
import { CLASS_NAMES, IMAGE_BYTES, type ImageSet } from "../data/cifar.ts";
import type { CNNConfig, CNNParams } from "../models/cnn.ts";
import { modelSpec } from "../models/presets.ts";
import type { ViTConfig, ViTParams } from "../models/vit.ts";
import { readCheckpoint } from "../train/checkpoint.ts";
import type { EpochMetrics } from "../train/records.ts";
import { type ModelResult, stat } from "./aggregate.ts";
import { cnnQueryAttention, vitClassAttention } from "./attention_maps.ts";
import { svgToPng } from "./png.ts";
import type { RunRecord } from "./run_record.ts";
import { barChart, heatmap, imageGrid, lineChart, type Overlay, type Series } from "./svg.ts";

/** A model's name in tables and legends: `CNN-SA (hour)`, `CNN, no attention (hour-noattn)`. */
export function modelLabel(m: Pick<ModelResult, "model" | "preset" | "attention">): string {
  const kind = m.model === "vit" ? "ViT" : m.attention ? "CNN-SA" : "CNN, no attention";
  return `${kind} (${m.preset})`;
}

/** File-name stem of a model: `cnn-hour`. */
export function modelSlug(m: Pick<ModelResult, "model" | "preset">): string {
  return `${m.model}-${m.preset}`;
}

/** Mean curve over seeds (by epoch index), with a ±std band when there are several. */
function curve(
  runs: RunRecord[],
  x: (m: EpochMetrics) => number,
  y: (m: EpochMetrics) => number,
  name: string,
): Series {
  const epochs = Math.min(...runs.map((r) => r.metrics.length));
  const points: [number, number][] = [], lo: [number, number][] = [], hi: [number, number][] = [];
  for (let e = 0; e < epochs; e++) {
    const sx = stat(runs.map((r) => x(r.metrics[e]))).mean,
      sy = stat(runs.map((r) => y(r.metrics[e])));
    points.push([sx, sy.mean]);
    lo.push([sx, sy.mean - sy.std]);
    hi.push([sx, sy.mean + sy.std]);
  }
  return { name, points, band: runs.length > 1 ? [...hi, ...lo.reverse()] : undefined };
}

function pixelsOf(set: ImageSet, index: number): number[][][] {
  const p = set.images.subarray(index * IMAGE_BYTES, (index + 1) * IMAGE_BYTES);
  return Array.from(
    { length: 32 },
    (_, y) =>
      Array.from(
        { length: 32 },
        (_, x) => [p[y * 32 + x], p[1024 + y * 32 + x], p[2048 + y * 32 + x]],
      ),
  );
}

/**
 * Attention of the first seed's CNN-SA (first self-attention layer, from the
 * centre position) and ViT (class token per layer, and rolled out) on the
 * first test images.
 */
async function attentionFigure(
  cnnRun: RunRecord,
  vitRun: RunRecord,
  test: ImageSet,
): Promise<string> {
  const load = async (run: RunRecord) => {
    const spec = modelSpec(run.config.model, run.config.preset);
    const template = spec.init(new Rng(0));
    const params = (await readCheckpoint(join(run.dir, "checkpoint.safetensors"))).params(template);
    disposeTree(template);
    return { spec, params };
  };
  const cnn = await load(cnnRun), vit = await load(vitRun);
  const count = Math.min(4, test.size), rows: Overlay[][] = [];
  const batch = imageBatch(test, Array.from({ length: count }, (_, i) => i), null);
  const images = batch.images;
  for (let i = 0; i < count; i++) {
    const pixels = pixelsOf(test, i);
    const v = await vitClassAttention(
      vit.params as ViTParams,
      images,
      vit.spec.config as ViTConfig,
      i,
    );
    const c = await cnnQueryAttention(
      cnn.params as CNNParams,
      images,
      cnn.spec.config as CNNConfig,
      {
        index: i,
      },
    );
    rows.push([
      { title: CLASS_NAMES[test.labels[i]], pixels },
      { title: "ViT rollout", pixels, heat: v.rollout },
      ...v.layers.map((heat, l) => ({ title: `ViT layer ${l + 1}`, pixels, heat })),
      { title: `CNN stage ${c.stage + 1} query`, pixels, heat: c.map, mark: c.query },
    ]);
  }
  batch[Symbol.dispose]();
  disposeTree(cnn.params);
  disposeTree(vit.params);
  return imageGrid({
    title:
      `Attention on test images: ${cnnRun.config.preset} CNN-SA and ${vitRun.config.preset} ViT`,
    rows,
    note:
      "ViT: class-token attention over patches, heads averaged. CNN: first self-attention layer, from the centre position. Red: weight; blue box: the CNN's query.",
  });
}

/** Write `name.svg` and `name.png` in `dir`; returns the file names written. */
async function writePlot(dir: string, name: string, svg: string): Promise<string[]> {
  await writeFileAtomic(join(dir, `${name}.svg`), svg);
  const png = await svgToPng(svg);
  if (!png) return [`${name}.svg`];
  await writeFileAtomic(join(dir, `${name}.png`), png);
  return [`${name}.svg`, `${name}.png`];
}

type Axis = (m: EpochMetrics) => number;

const CHARTS: [string, string, string, string, Axis, Axis][] = (() => {
  const epoch: Axis = (m) => m.epoch, minutes: Axis = (m) => m.trainSeconds / 60;
  const loss: Axis = (m) => m.trainLoss, acc: Axis = (m) => 100 * m.testAccuracy;
  const time = "training time (minutes)";
  return [
    ["loss_vs_epoch", "Training loss by epoch", "epoch", "training loss", epoch, loss],
    [
      "accuracy_vs_epoch",
      "Test accuracy by epoch (one view)",
      "epoch",
      "test accuracy (%)",
      epoch,
      acc,
    ],
    ["loss_vs_time", "Training loss by training time", time, "training loss", minutes, loss],
    [
      "accuracy_vs_time",
      "Test accuracy by training time (one view)",
      time,
      "test accuracy (%)",
      minutes,
      acc,
    ],
  ];
})();

/**
 * Write every plot of a comparison into `dir`; returns the file names.
 * `runsOf(m)` gives the runs of model `m`; `test` supplies the images the
 * attention maps are drawn on.
 */
export async function writeFigures(
  dir: string,
  models: ModelResult[],
  runsOf: (m: ModelResult) => RunRecord[],
  test: ImageSet,
): Promise<string[]> {
  const plots: string[] = [];
  const legend = (m: ModelResult) => `${modelLabel(m)}, ${m.params.toLocaleString("en-US")} params`;
  for (const [name, title, xLabel, yLabel, x, y] of CHARTS) {
    const series = models.map((m) => curve(runsOf(m), x, y, legend(m)));
    plots.push(...await writePlot(dir, name, lineChart({ title, xLabel, yLabel, series })));
  }
  const perClass = barChart({
    title: "Per-class test accuracy (final, mean over seeds)",
    yLabel: "test accuracy (%)",
    categories: [...CLASS_NAMES],
    series: models.map((m) => ({
      name: modelLabel(m),
      values: m.perClassAccuracy.map((a) => 100 * a),
    })),
    yMax: 100,
  });
  plots.push(...await writePlot(dir, "per_class_accuracy", perClass));
  for (const m of models) {
    const seeds = m.seeds.length > 1 ? ` (all ${m.seeds.length} seeds)` : "";
    const svg = heatmap({
      title: `${modelLabel(m)}: confusion matrix${seeds}`,
      rowLabel: "true class",
      colLabel: "predicted class",
      labels: [...CLASS_NAMES],
      values: m.confusion,
    });
    plots.push(...await writePlot(dir, `confusion_${modelSlug(m)}`, svg));
  }
  const cnn = models.find((m) => m.model === "cnn" && m.attention),
    vit = models.find((m) => m.model === "vit");
  if (cnn && vit) {
    const svg = await attentionFigure(runsOf(cnn)[0], runsOf(vit)[0], test);
    plots.push(...await writePlot(dir, "attention_maps", svg));
  }
  return plots;
}
