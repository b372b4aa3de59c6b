/**
 * A fair CNN-vs-ViT comparison: both models at comparable parameter counts,
 * trained on the same images with the same augmentation, seeds and budget
 * (or finished runs reused), then summarised in `results.json`, plots (SVG
 * and PNG) and a generated `report.md`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { type BackendName, selectBackend } from "../backend/select.ts";
import { disposeTree } from "../core/params.ts";
import { Rng } from "../core/rng.ts";
import { writeFileAtomic } from "../core/safetensors.ts";
import { brand } from "../core/tensor.ts";
import { fillBatch } from "../data/batches.ts";
import { CLASS_NAMES, IMAGE_BYTES, type ImageSet, loadCifar10 } from "../data/cifar.ts";
import type { CNNConfig, CNNParams } from "../models/cnn.ts";
import { type ModelKind, modelSpec } from "../models/presets.ts";
import type { ViTConfig, ViTParams } from "../models/vit.ts";
import { readCheckpoint } from "../train/checkpoint.ts";
import { dataDir, defaultConfig, type TrainConfig } from "../train/config.ts";
import { type EpochMetrics, train, type TrainSummary } from "../train/loop.ts";
import { cnnQueryAttention, vitClassAttention } from "./attention_maps.ts";
import { svgToPng } from "./png.ts";
import { renderReport } from "./report.ts";
import { barChart, heatmap, imageGrid, lineChart, type Overlay, type Series } from "./svg.ts";

/** What to compare. */
export interface CompareOptions {
  preset: string;
  epochs: number;
  minutes: number;
  seeds: number;
  batchSize?: number;
  data: string;
  trainSize?: number;
  testSize?: number;
  backend: BackendName;
  out: string;
  /** Reuse two finished run folders (one CNN, one ViT) instead of training. */
  runs?: string[];
  quiet?: boolean;
}

/** One finished run. */
export interface RunRecord {
  dir: string;
  config: TrainConfig;
  summary: TrainSummary;
  metrics: EpochMetrics[];
}

/** mean and (sample) standard deviation. */
export interface Stat {
  mean: number;
  std: number;
  n: number;
}

/** Per-model aggregate. */
export interface ModelResult {
  model: ModelKind;
  preset: string;
  params: number;
  flopsPerImage: number;
  backend: string;
  trainSeconds: Stat;
  imagesPerSecond: Stat;
  finalTestAccuracy: Stat;
  bestTestAccuracy: Stat;
  perClassAccuracy: number[];
  confusion: number[][];
  runs: string[];
}

/** `results.json`. */
export interface CompareResults {
  preset: string;
  seeds: number;
  trainImages: number;
  testImages: number;
  paramGap: number;
  models: ModelResult[];
  plots: string[];
}

/** Mean and sample standard deviation of `xs`. */
export function stat(xs: number[]): Stat {
  const n = xs.length, mean = xs.reduce((a, b) => a + b, 0) / Math.max(n, 1);
  const std = n > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** Read a finished run folder (config.json, summary.json, metrics.jsonl). */
export async function readRun(dir: string): Promise<RunRecord> {
  const read = async (name: string) => {
    try {
      return await Deno.readTextFile(join(dir, name));
    } catch {
      throw new Error(`${join(dir, name)} is missing: is "${dir}" a finished training run?`);
    }
  };
  return {
    dir,
    config: JSON.parse(await read("config.json")),
    summary: JSON.parse(await read("summary.json")),
    metrics: (await read("metrics.jsonl")).trim().split("\n").filter((l) => l).map((l) =>
      JSON.parse(l)
    ),
  };
}

async function trainRuns(o: CompareOptions): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  for (let seed = 0; seed < o.seeds; seed++) {
    for (const model of ["cnn", "vit"] as const) {
      const d = defaultConfig(model);
      const config: TrainConfig = {
        ...d,
        preset: o.preset,
        epochs: o.epochs,
        minutes: o.minutes,
        batchSize: o.batchSize ?? d.batchSize,
        seed,
        data: o.data,
        trainSize: o.trainSize,
        testSize: o.testSize,
        backend: o.backend,
        out: join(o.out, `${model}-seed${seed}`),
      };
      if (!o.quiet) console.error(`compare: training ${model} (${o.preset}), seed ${seed}`);
      await train(config, { quiet: o.quiet });
      runs.push(await readRun(config.out));
    }
  }
  return runs;
}

function checkFair(runs: RunRecord[]): number {
  const cnn = runs.filter((r) => r.config.model === "cnn"),
    vit = runs.filter((r) => r.config.model === "vit");
  if (cnn.length === 0 || vit.length === 0) {
    throw new Error("A comparison needs at least one CNN run and one ViT run");
  }
  const gap = Math.abs(cnn[0].summary.params - vit[0].summary.params) / vit[0].summary.params;
  if (gap > 0.05) {
    throw new Error(
      `Parameter counts differ by ${(100 * gap).toFixed(1)}% (CNN ${cnn[0].summary.params}, ViT ${
        vit[0].summary.params
      }); a fair comparison needs 5% or less`,
    );
  }
  const key = (r: RunRecord) =>
    `${r.summary.trainImages}/${r.summary.testImages}/${r.config.augment}/${
      dataDir(r.config.data)
    }`;
  if (new Set(runs.map(key)).size !== 1) {
    throw new Error(
      `The runs used different data or augmentation (${
        [...new Set(runs.map(key))].join(" vs ")
      }); compare runs on the same images`,
    );
  }
  return gap;
}

function aggregate(runs: RunRecord[], model: ModelKind): ModelResult {
  const rs = runs.filter((r) => r.config.model === model), s0 = rs[0].summary;
  const classes = s0.perClassAccuracy.length;
  const confusion = Array.from(
    { length: classes },
    (_, i) =>
      Array.from(
        { length: classes },
        (_, j) => rs.reduce((s, r) => s + r.summary.confusion[i][j], 0),
      ),
  );
  return {
    model,
    preset: s0.preset,
    params: s0.params,
    flopsPerImage: s0.flopsPerImage,
    backend: s0.backendDescription ?? s0.backend,
    trainSeconds: stat(rs.map((r) => r.summary.trainSeconds)),
    imagesPerSecond: stat(rs.map((r) => r.summary.imagesPerSecond)),
    finalTestAccuracy: stat(rs.map((r) => r.summary.testAccuracy)),
    bestTestAccuracy: stat(rs.map((r) => r.summary.bestTestAccuracy)),
    perClassAccuracy: Array.from(
      { length: classes },
      (_, c) => stat(rs.map((r) => r.summary.perClassAccuracy[c])).mean,
    ),
    confusion,
    runs: rs.map((r) => r.dir),
  };
}

const LABEL: Record<ModelKind, string> = { cnn: "CNN-SA", vit: "ViT" };

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

async function attentionFigure(runs: RunRecord[], test: ImageSet): Promise<string> {
  const cnnRun = runs.find((r) => r.config.model === "cnn")!,
    vitRun = runs.find((r) => r.config.model === "vit")!;
  const load = async (run: RunRecord) => {
    const spec = modelSpec(run.config.model, run.config.preset);
    const template = spec.init(new Rng(0));
    const params = (await readCheckpoint(join(run.dir, "checkpoint.safetensors"))).params(template);
    disposeTree(template);
    return { spec, params };
  };
  const cnn = await load(cnnRun), vit = await load(vitRun);
  const count = Math.min(4, test.size), rows: Overlay[][] = [];
  const buffer = new Float32Array(count * 3072), labels = new Int32Array(count);
  fillBatch(test, Array.from({ length: count }, (_, i) => i), buffer, labels, null);
  const images = brand(tf.tensor4d(buffer, [count, 32, 32, 3]), [
    "batch",
    "height",
    "width",
    "channels",
  ]);
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
      { title: CLASS_NAMES[labels[i]], pixels },
      { title: "ViT rollout", pixels, heat: v.rollout },
      ...v.layers.map((heat, l) => ({ title: `ViT layer ${l + 1}`, pixels, heat })),
      { title: `CNN stage ${c.stage + 1} query`, pixels, heat: c.map, mark: c.query },
    ]);
  }
  images.dispose();
  disposeTree(cnn.params);
  disposeTree(vit.params);
  return imageGrid({
    title: "Attention on test images (red: weight; blue box: the CNN's query position)",
    rows,
    note:
      "ViT: class-token attention over patches, heads averaged. CNN: first self-attention layer, from the centre position.",
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

/** Run the comparison and write `results.json`, plots and `report.md` into `o.out`. */
export async function compare(
  o: CompareOptions,
): Promise<{ results: CompareResults; report: string }> {
  await Deno.mkdir(o.out, { recursive: true });
  await selectBackend(o.backend, o.quiet);
  const runs = o.runs ? await Promise.all(o.runs.map(readRun)) : await trainRuns(o);
  const paramGap = checkFair(runs);
  const models = (["cnn", "vit"] as const).map((m) => aggregate(runs, m));
  const byModel = (m: ModelKind) => runs.filter((r) => r.config.model === m);
  const plots: string[] = [];
  const epoch = (m: EpochMetrics) => m.epoch, minutes = (m: EpochMetrics) => m.trainSeconds / 60;
  const loss = (m: EpochMetrics) => m.trainLoss, acc = (m: EpochMetrics) => 100 * m.testAccuracy;
  const charts: [
    string,
    string,
    string,
    string,
    (m: EpochMetrics) => number,
    (m: EpochMetrics) => number,
  ][] = [
    ["loss_vs_epoch", "Training loss by epoch", "epoch", "training loss", epoch, loss],
    ["accuracy_vs_epoch", "Test accuracy by epoch", "epoch", "test accuracy (%)", epoch, acc],
    [
      "loss_vs_time",
      "Training loss by training time",
      "training time (minutes)",
      "training loss",
      minutes,
      loss,
    ],
    [
      "accuracy_vs_time",
      "Test accuracy by training time",
      "training time (minutes)",
      "test accuracy (%)",
      minutes,
      acc,
    ],
  ];
  for (const [name, title, xLabel, yLabel, x, y] of charts) {
    const series = (["cnn", "vit"] as const).map((m) =>
      curve(
        byModel(m),
        x,
        y,
        `${LABEL[m]} (${models.find((r) => r.model === m)!.params.toLocaleString("en-US")} params)`,
      )
    );
    plots.push(...await writePlot(o.out, name, lineChart({ title, xLabel, yLabel, series })));
  }
  plots.push(
    ...await writePlot(
      o.out,
      "per_class_accuracy",
      barChart({
        title: "Per-class test accuracy",
        yLabel: "test accuracy (%)",
        categories: [...CLASS_NAMES],
        series: models.map((m) => ({
          name: LABEL[m.model],
          values: m.perClassAccuracy.map((a) => 100 * a),
        })),
        yMax: 100,
      }),
    ),
  );
  for (const m of models) {
    plots.push(
      ...await writePlot(
        o.out,
        `confusion_${m.model}`,
        heatmap({
          title: `${LABEL[m.model]}: confusion matrix${runs.length > 2 ? " (all seeds)" : ""}`,
          rowLabel: "true class",
          colLabel: "predicted class",
          labels: [...CLASS_NAMES],
          values: m.confusion,
        }),
      ),
    );
  }
  const data = await loadCifar10(dataDir(runs[0].config.data), { trainSize: 1, testSize: 4 });
  plots.push(...await writePlot(o.out, "attention_maps", await attentionFigure(runs, data.test)));
  const results: CompareResults = {
    preset: models[0].preset,
    seeds: runs.length / 2,
    trainImages: runs[0].summary.trainImages,
    testImages: runs[0].summary.testImages,
    paramGap,
    models,
    plots,
  };
  const report = renderReport(results);
  await writeFileAtomic(join(o.out, "results.json"), JSON.stringify(results, null, 2) + "\n");
  await writeFileAtomic(join(o.out, "report.md"), report);
  return { results, report };
}
