/**
 * The attention explorer: picks a backend, loads the shipped models and
 * test images from its own folder, shows both models' predictions and
 * accuracy, the attention of a chosen (or the user's own) image, and trains
 * the tiny ViT on request. Sets `data-ready` on `<html>` once the first
 * image's attention is drawn (the browser test waits for it).
 *
 * @module
 */
import { CLASS_NAMES, modelSpec, type TestTimeAugmentation } from "@vision-attention/sa";
import { TTA_MODES } from "../../src/train/evaluate.ts";
import { type Assets, loadAssets } from "./assets.ts";
import { PAGE_BACKENDS, type PageBackend, pickBackend } from "./backend.ts";
import { classifySet } from "./classify.ts";
import { drawLossCurve, drawPixels, pixelsOf, toImageSet } from "./draw.ts";
import { Explorer } from "./explore.ts";
import { buildGrid, markPicked, showAccuracy, showPredictions, withArticle } from "./grid.ts";
import { trainTinyViT } from "./train.ts";

const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** What each view mode is, and the `deno task eval` that counts the same. */
const VIEWS: Record<TestTimeAugmentation, string> = {
  none: "one view per image, no test-time augmentation (deno task eval --tta none)",
  flip: "each image and its mirror, logits averaged (deno task eval --tta flip)",
  "flip-translate": "six views: each image and its one-pixel diagonal shifts, each mirrored " +
    "(deno task eval, its default)",
};

function status(text: string): void {
  byId("status").textContent = text;
}

/** Classify every test image with every model, redrawing as batches finish. */
async function classifyAll(assets: Assets, tta: TestTimeAugmentation, isCurrent: () => boolean) {
  const grid = byId("grid"), list = byId("accuracy");
  const lines = assets.models.map((m) => {
    const li = document.createElement("li");
    li.dataset.modelAccuracy = m.spec.kind;
    li.textContent = `${m.label}: …`;
    return li;
  });
  list.replaceChildren(...lines);
  byId("views").textContent = VIEWS[tta];
  for (const [i, model] of assets.models.entries()) {
    status(`Classifying ${assets.test.size} test images with ${model.label}…`);
    await classifySet(model, assets.test, tta, (done, logits) => {
      if (!isCurrent()) return;
      showPredictions(grid, assets.test, model, logits, done);
      showAccuracy(lines[i], model, logits, assets.test.labels, done);
    });
    if (!isCurrent()) return;
  }
}

function wireOwnImage(explorer: Explorer): void {
  const input = byId<HTMLInputElement>("file"), zone = byId("drop"), note = byId("own-note");
  const preview = byId<HTMLCanvasElement>("own-preview");
  const use = async (file: File | undefined) => {
    if (!file) return;
    let picture: ImageBitmap;
    try {
      picture = await createImageBitmap(file);
    } catch {
      note.textContent = `Could not read "${file.name}" as an image.`;
      return;
    }
    const set = toImageSet(picture);
    picture.close();
    drawPixels(preview, pixelsOf(set, 0));
    preview.hidden = false;
    note.textContent = `"${file.name}", its centre square resized to 32×32: ` +
      `its attention and top classes are shown under Attention.`;
    markPicked(byId("grid"), null);
    await explorer.show(set, 0, `Your image "${file.name}", resized to 32×32.`);
  };
  input.addEventListener("change", () => use(input.files?.[0]));
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    use(e.dataTransfer?.files[0]);
  });
}

function wireTraining(assets: Assets): void {
  const start = byId<HTMLButtonElement>("train-start"),
    stop = byId<HTMLButtonElement>("train-stop");
  const epochs = byId<HTMLInputElement>("epochs"), note = byId("train-status");
  const curve = byId("loss") as unknown as SVGSVGElement;
  drawLossCurve(curve, [], 1); // the empty axes, so the box says what it is for
  let controller: AbortController | null = null;
  stop.addEventListener("click", () => controller?.abort());
  start.addEventListener("click", async () => {
    controller = new AbortController();
    start.disabled = true;
    stop.disabled = false;
    const losses: number[] = [], accuracies: string[] = [];
    try {
      await trainTinyViT(assets.train, assets.test, {
        epochs: Math.min(30, Math.max(1, Math.round(Number(epochs.value) || 3))),
        signal: controller.signal,
        onStep: (r) => {
          losses.push(r.loss);
          drawLossCurve(curve, losses, r.totalSteps);
          note.textContent =
            `Epoch ${r.epoch} of ${r.epochs}, step ${r.step} of ${r.totalSteps}: ` +
            `loss ${r.loss.toFixed(3)}, ${r.imagesPerSecond.toFixed(0)} images/s.`;
        },
        onEpoch: (epoch, accuracy) => {
          accuracies.push(`epoch ${epoch}: ${(100 * accuracy).toFixed(1)}%`);
          note.textContent = `Test accuracy on the ${assets.test.size} shipped images, ` +
            `${accuracies.join(", ")}.`;
        },
      });
      if (controller.signal.aborted) note.textContent += " Stopped.";
    } catch (e) {
      note.textContent = `Training failed: ${(e as Error).message}`;
      console.error(e);
    } finally {
      start.disabled = false;
      stop.disabled = true;
    }
  });
}

async function main(): Promise<void> {
  const base = new URL("./", location.href), query = new URLSearchParams(location.search);
  const asked = query.get("backend") ?? "auto";
  const requested = PAGE_BACKENDS.includes(asked as PageBackend) ? asked as PageBackend : "auto";
  status("Starting TensorFlow.js…");
  const backend = await pickBackend(requested, base.href);
  byId("backend").textContent = backend.description;
  status("Loading the models and test images…");
  const assets = await loadAssets(base);
  byId("image-count").textContent = String(assets.test.size);
  byId("train-count").textContent = String(assets.train.size);
  byId("tiny-params").textContent = modelSpec("vit", "tiny").paramCount.toLocaleString("en-US");
  const explorer = new Explorer({
    caption: byId("explore-caption"),
    query: byId("query"),
    queryText: byId("query-text"),
    cnnMap: byId("cnn-map"),
    cnnCaption: byId("cnn-caption"),
    stage: byId("stage"),
    vitMaps: byId("vit-maps"),
    top: byId("top"),
  }, assets.models);
  const pick = (i: number) => {
    markPicked(byId("grid"), i);
    const label = withArticle(CLASS_NAMES[assets.test.labels[i]]);
    return explorer.show(assets.test, i, `Test image ${i + 1} of ${assets.test.size}, ${label}.`);
  };
  buildGrid(byId("grid"), assets.test, assets.models, (i) => {
    // On narrow screens the attention is below the grid: bring it into view.
    const beside = matchMedia("(min-width: 1000px)").matches;
    pick(i).then(() => beside || byId("explore").scrollIntoView({ behavior: "smooth" }));
  });
  wireOwnImage(explorer);
  wireTraining(assets);

  const select = byId<HTMLSelectElement>("tta");
  select.replaceChildren(...TTA_MODES.map((m) => new Option(m, m)));
  let generation = 0;
  const run = async (tta: TestTimeAugmentation) => {
    const mine = ++generation;
    explorer.tta = tta;
    await classifyAll(assets, tta, () => mine === generation);
  };
  select.addEventListener("change", () => run(select.value as TestTimeAugmentation));
  await run("none");
  await pick(0);
  status(`Ready: ${assets.test.size} test images, two models, on ${backend.name}.`);
  document.documentElement.dataset.ready = "true";
}

main().catch((e) => {
  status(`Error: ${(e as Error).message}`);
  console.error(e);
});
