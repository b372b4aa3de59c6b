/**
 * The attention of one image: the ViT's class-token attention per layer and
 * rolled out across layers, and the CNN's self-attention from a query
 * position the user picks (click, or arrow keys on the focused image), with
 * both models' top three classes.
 *
 * @module
 */
import {
  CLASS_NAMES,
  type CNNConfig,
  cnnQueryAttention,
  imageBatch,
  type Images,
  type ImageSet,
  type TestTimeAugmentation,
  vitClassAttention,
  type ViTConfig,
} from "@vision-attention/sa";
import type { CNNParams } from "../../src/models/cnn.ts";
import type { ViTParams } from "../../src/models/vit.ts";
import type { PageModel } from "./assets.ts";
import { classifySet, probabilities, single } from "./classify.ts";
import { drawHeat, drawMarker, drawPixels, pixelsOf } from "./draw.ts";

/** The elements of the section. */
export interface ExploreView {
  caption: HTMLElement;
  query: HTMLCanvasElement;
  queryText: HTMLElement;
  cnnMap: HTMLCanvasElement;
  cnnCaption: HTMLElement;
  stage: HTMLSelectElement;
  vitMaps: HTMLElement;
  top: HTMLElement;
}

/** Side of each attending stage's feature map, by stage index. */
function attentionSizes(config: CNNConfig): Map<number, number> {
  const sizes = new Map<number, number>();
  let size = config.imageSize;
  config.stages.forEach((s, i) => {
    if (s.downsample) size /= 2; // attention runs after the stage's pooling
    if (s.attention) sizes.set(i, size);
  });
  return sizes;
}

/** The section's state: which image, which stage, which query. */
export class Explorer {
  #view: ExploreView;
  #cnn: PageModel;
  #vit: PageModel;
  #sizes: Map<number, number>;
  #set: ImageSet | null = null;
  #index = 0;
  #stage: number;
  #query: [number, number];
  /** The views the top-three classes average, as the grid's predictions. */
  tta: TestTimeAugmentation = "none";

  constructor(view: ExploreView, models: PageModel[]) {
    this.#view = view;
    this.#cnn = models.find((m) => m.spec.kind === "cnn")!;
    this.#vit = models.find((m) => m.spec.kind === "vit")!;
    this.#sizes = attentionSizes(this.#cnn.spec.config as CNNConfig);
    this.#stage = [...this.#sizes.keys()][0];
    const size = this.#sizes.get(this.#stage)!;
    this.#query = [Math.floor(size / 2), Math.floor(size / 2)];
    view.stage.replaceChildren(
      ...[...this.#sizes].map(([stage, size]) =>
        new Option(`stage ${stage + 1} (${size}×${size})`, String(stage))
      ),
    );
    view.stage.addEventListener("change", () => this.#setStage(Number(view.stage.value)));
    view.query.addEventListener("click", (e) => this.#pick(e));
    view.query.addEventListener("keydown", (e) => this.#key(e));
  }

  /** Explore image `index` of `set`; `caption` says which image it is. */
  async show(set: ImageSet, index: number, caption: string): Promise<void> {
    this.#set = set;
    this.#index = index;
    this.#view.caption.textContent = caption;
    const one = this.#images();
    try {
      // Awaited: the maps read tensors back, asynchronously where a backend needs it.
      const { layers, rollout } = await vitClassAttention(
        this.#vit.params as ViTParams,
        one,
        this.#vit.spec.config as ViTConfig,
      );
      const image = pixelsOf(set, index);
      const panels = [
        ...layers.map((g, i) => [`layer ${i + 1}`, g] as const),
        [
          "rollout",
          rollout,
        ] as const,
      ];
      this.#view.vitMaps.replaceChildren(...panels.map(([name, grid]) => {
        const figure = document.createElement("figure");
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 128;
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", `ViT class-token attention, ${name}`);
        drawHeat(canvas, image, grid);
        const caption = document.createElement("figcaption");
        caption.textContent = name;
        figure.append(canvas, caption);
        return figure;
      }));
    } finally {
      one.dispose();
    }
    await this.#drawCnn();
    await this.#showTop(set, index);
  }

  /** The explored image as a batch of one, normalised. */
  #images(): Images {
    const batch = imageBatch(this.#set!, [this.#index], null);
    batch.labels.dispose();
    return batch.images;
  }

  /** Redraw after a change of stage or query; a failure goes to the console. */
  #redraw(): void {
    this.#drawCnn().catch((e) => console.error(e));
  }

  async #drawCnn(): Promise<void> {
    if (!this.#set) return;
    const one = this.#images();
    try {
      const { size, query, map, stage } = await cnnQueryAttention(
        this.#cnn.params as CNNParams,
        one,
        this.#cnn.spec.config as CNNConfig,
        { stage: this.#stage, query: this.#query },
      );
      const image = pixelsOf(this.#set, this.#index);
      drawPixels(this.#view.query, image);
      drawMarker(this.#view.query, query, size);
      drawHeat(this.#view.cnnMap, image, map, query);
      const where = `row ${query[0] + 1}, column ${query[1] + 1} of ${size}×${size}`;
      this.#view.queryText.textContent = `Query: ${where}.`;
      this.#view.cnnCaption.textContent = `CNN-SA, stage ${
        stage + 1
      }: where the query position (${where}) attends.`;
      this.#view.cnnMap.setAttribute("aria-label", `CNN self-attention from ${where}`);
    } finally {
      one.dispose();
    }
  }

  async #showTop(set: ImageSet, index: number): Promise<void> {
    const rows = await Promise.all([this.#cnn, this.#vit].map(async (m) => {
      const p = probabilities(await classifySet(m, single(set, index), this.tta), 0);
      const top = p.map((v, c) => [v, c] as const).sort((a, b) => b[0] - a[0]).slice(0, 3);
      return `${m.label}: ${
        top.map(([v, c]) => `${CLASS_NAMES[c]} ${(100 * v).toFixed(0)}%`).join(", ")
      }`;
    }));
    this.#view.top.replaceChildren(...rows.map((r) => {
      const li = document.createElement("li");
      li.textContent = r;
      return li;
    }));
  }

  #setStage(stage: number): void {
    const old = this.#sizes.get(this.#stage)!, size = this.#sizes.get(stage)!;
    // Keep the query over the same part of the image.
    this.#query = this.#query.map((q) => Math.min(size - 1, Math.floor((q * size) / old))) as [
      number,
      number,
    ];
    this.#stage = stage;
    this.#redraw();
  }

  #pick(e: MouseEvent): void {
    const rect = this.#view.query.getBoundingClientRect();
    const size = this.#sizes.get(this.#stage)!;
    const cell = (v: number, extent: number) =>
      Math.min(size - 1, Math.max(0, Math.floor((v / extent) * size)));
    this.#query = [
      cell(e.clientY - rect.top, rect.height),
      cell(e.clientX - rect.left, rect.width),
    ];
    this.#redraw();
  }

  #key(e: KeyboardEvent): void {
    const moves: Record<string, [number, number]> = {
      ArrowUp: [-1, 0],
      ArrowDown: [1, 0],
      ArrowLeft: [0, -1],
      ArrowRight: [0, 1],
    };
    const move = moves[e.key];
    if (!move) return;
    e.preventDefault(); // the arrows move the query, not the page
    const size = this.#sizes.get(this.#stage)!;
    this.#query = this.#query.map((q, i) => Math.min(size - 1, Math.max(0, q + move[i]))) as [
      number,
      number,
    ];
    this.#redraw();
  }
}
