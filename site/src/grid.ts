/**
 * The grid of test images: each a button with the image, its label and
 * both models' predictions and confidences; and each model's accuracy over
 * all of them, counted as `evaluate` counts.
 *
 * @module
 */
import { CLASS_NAMES, type ImageSet } from "@vision-attention/sa";
import type { PageModel } from "./assets.ts";
import { argmax, countCorrect, probabilities } from "./classify.ts";
import { drawPixels, pixelsOf } from "./draw.ts";

/** Create one button per image of `set` in `list`; `onPick` hears the index. */
export function buildGrid(
  list: HTMLElement,
  set: ImageSet,
  models: PageModel[],
  onPick: (index: number) => void,
): void {
  const items = Array.from({ length: set.size }, (_, i) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.index = String(i);
    button.setAttribute("aria-pressed", "false");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 32;
    drawPixels(canvas, pixelsOf(set, i));
    const truth = document.createElement("span");
    truth.className = "truth";
    truth.textContent = CLASS_NAMES[set.labels[i]];
    const predictions = models.map((m) => {
      const line = document.createElement("span");
      line.className = "prediction pending";
      line.dataset.model = m.spec.kind;
      line.textContent = `${short(m)} …`;
      return line;
    });
    button.append(canvas, truth, ...predictions);
    button.addEventListener("click", () => onPick(i));
    item.append(button);
    return item;
  });
  list.replaceChildren(...items);
}

/** "a dog", "an airplane". */
export function withArticle(name: string): string {
  return `${/^[aeiou]/.test(name) ? "an" : "a"} ${name}`;
}

function short(model: PageModel): string {
  return model.spec.kind === "cnn" ? "CNN" : "ViT";
}

/** Show `model`'s predictions for the first `done` images (logits per image). */
export function showPredictions(
  list: HTMLElement,
  set: ImageSet,
  model: PageModel,
  logits: Float32Array,
  done: number,
): void {
  const buttons = list.querySelectorAll<HTMLButtonElement>("button");
  for (let i = 0; i < done; i++) {
    const best = argmax(logits, i), p = probabilities(logits, i)[best];
    const line = buttons[i].querySelector<HTMLElement>(`[data-model="${model.spec.kind}"]`)!;
    const right = best === set.labels[i];
    line.className = `prediction ${right ? "right" : "wrong"}`;
    // The mark is for people who cannot tell the colours apart.
    line.textContent = `${short(model)} ${right ? "✓" : "✗"} ${CLASS_NAMES[best]} ${
      Math.round(100 * p)
    }%`;
  }
  for (let i = 0; i < done; i++) {
    const lines = [...buttons[i].querySelectorAll(".prediction")].map((l) => l.textContent);
    buttons[i].setAttribute(
      "aria-label",
      `Test image ${i + 1}, ${withArticle(CLASS_NAMES[set.labels[i]])}. ${lines.join(". ")}`,
    );
  }
}

/** Mark image `index` as the one explored. */
export function markPicked(list: HTMLElement, index: number | null): void {
  for (const b of list.querySelectorAll<HTMLButtonElement>("button")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.index) === index));
  }
}

/**
 * The accuracy line of `model`: correct of total, as a percentage, with the
 * counts in data attributes (the browser test reads them).
 */
export function showAccuracy(
  target: HTMLElement,
  model: PageModel,
  logits: Float32Array,
  labels: Uint8Array,
  done: number,
): void {
  const correct = countCorrect(logits, labels, done);
  target.dataset.model = model.spec.kind;
  target.dataset.correct = String(correct);
  target.dataset.total = String(done);
  target.textContent = `${model.label}: ${(100 * correct / Math.max(done, 1)).toFixed(1)}% ` +
    `(${correct} of ${done})`;
}
