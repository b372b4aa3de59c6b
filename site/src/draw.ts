/**
 * Pixels for people: CIFAR images (planar bytes) on canvases, attention
 * grids as heat over the image, an image of the user's cut to 32x32, and
 * the live loss curve.
 *
 * @module
 */
import type { Grid, ImageSet } from "@vision-attention/sa";
import { IMAGE_BYTES } from "../../src/data/cifar.ts";

const SIDE = 32, PLANE = SIDE * SIDE;

/** Image `index` of `set` as RGBA pixels. */
export function pixelsOf(set: ImageSet, index: number): ImageData {
  const src = set.images.subarray(index * IMAGE_BYTES, (index + 1) * IMAGE_BYTES);
  const image = new ImageData(SIDE, SIDE);
  for (let p = 0; p < PLANE; p++) {
    image.data[4 * p] = src[p]; // planar: all red, then green, then blue
    image.data[4 * p + 1] = src[PLANE + p];
    image.data[4 * p + 2] = src[2 * PLANE + p];
    image.data[4 * p + 3] = 255;
  }
  return image;
}

/** Draw `image` over the whole canvas with square pixels (no smoothing). */
export function drawPixels(canvas: HTMLCanvasElement, image: ImageData): void {
  const small = new OffscreenCanvas(image.width, image.height);
  small.getContext("2d")!.putImageData(image, 0, 0);
  const ctx = canvas.getContext("2d")!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

// Inferno (matplotlib), eight stops: dark and cool for little weight, bright
// and warm for much, and readable for the colour-blind.
const STOPS = [
  [0, 0, 4],
  [40, 11, 84],
  [101, 21, 110],
  [159, 42, 99],
  [212, 72, 66],
  [245, 125, 21],
  [250, 193, 39],
  [252, 255, 164],
];

/** The colour of `t` in [0, 1]. */
export function heatColour(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
  return [0, 1, 2].map((c) => Math.round(STOPS[i][c] * (1 - f) + STOPS[i + 1][c] * f)) as [
    number,
    number,
    number,
  ];
}

/**
 * `image` dimmed, with `grid` (attention weights, any scale) laid over it as
 * heat, one square per cell, scaled to the grid's maximum; `marker` outlines
 * one cell `[row, column]` (the query).
 */
export function drawHeat(
  canvas: HTMLCanvasElement,
  image: ImageData,
  grid: Grid,
  marker?: [number, number],
): void {
  drawPixels(canvas, image);
  const ctx = canvas.getContext("2d")!;
  const rows = grid.length, cols = grid[0].length;
  const cw = canvas.width / cols, ch = canvas.height / rows;
  const max = Math.max(...grid.flat(), 1e-12);
  ctx.fillStyle = "rgba(0, 0, 0, 0.35)";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const t = grid[y][x] / max;
      const [r, g, b] = heatColour(t);
      ctx.fillStyle = `rgba(${r}, ${g}, ${b}, ${0.25 + 0.6 * t})`;
      ctx.fillRect(x * cw, y * ch, Math.ceil(cw), Math.ceil(ch));
    }
  }
  if (marker) drawMarker(canvas, marker, rows);
  canvas.dataset.drawn = "true";
}

/** Outline cell `[row, column]` of a `size` x `size` grid over the canvas. */
export function drawMarker(canvas: HTMLCanvasElement, [y, x]: [number, number], size: number) {
  const ctx = canvas.getContext("2d")!;
  const cw = canvas.width / size, ch = canvas.height / size;
  ctx.lineWidth = 3;
  ctx.strokeStyle = "#000";
  ctx.strokeRect(x * cw + 1.5, y * ch + 1.5, cw - 3, ch - 3);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#fff";
  ctx.strokeRect(x * cw + 1.5, y * ch + 1.5, cw - 3, ch - 3);
}

/**
 * A picture of the user's as one CIFAR-sized image: the centre square,
 * resized to 32x32 with the browser's smoothing, in planar bytes.
 */
export function toImageSet(picture: ImageBitmap): ImageSet {
  const side = Math.min(picture.width, picture.height);
  const canvas = new OffscreenCanvas(SIDE, SIDE);
  const ctx = canvas.getContext("2d")!;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(
    picture,
    (picture.width - side) / 2,
    (picture.height - side) / 2,
    side,
    side,
    0,
    0,
    SIDE,
    SIDE,
  );
  const rgba = ctx.getImageData(0, 0, SIDE, SIDE).data;
  const images = new Uint8Array(IMAGE_BYTES);
  for (let p = 0; p < PLANE; p++) {
    for (let c = 0; c < 3; c++) images[c * PLANE + p] = rgba[4 * p + c];
  }
  // The label is unknown; 0 only satisfies the record layout.
  return { images, labels: new Uint8Array(1), size: 1 };
}

const SVG = "http://www.w3.org/2000/svg";

function svgElement(name: string, attributes: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, String(v));
  return el;
}

/** Redraw the loss curve in `svg` (viewBox 400 x 160): `losses` per step of `totalSteps`. */
export function drawLossCurve(svg: SVGSVGElement, losses: number[], totalSteps: number): void {
  const left = 36, right = 392, top = 10, bottom = 136;
  const max = Math.max(2.5, ...losses);
  const x = (i: number) => left + ((right - left) * i) / Math.max(1, totalSteps - 1);
  const y = (v: number) => bottom - ((bottom - top) * v) / max;
  svg.replaceChildren(
    svgElement("line", { x1: left, y1: bottom, x2: right, y2: bottom, class: "axis" }),
    svgElement("line", { x1: left, y1: top, x2: left, y2: bottom, class: "axis" }),
    Object.assign(svgElement("text", { x: left - 4, y: top + 4, class: "tick end" }), {
      textContent: max.toFixed(1),
    }),
    Object.assign(svgElement("text", { x: left - 4, y: bottom, class: "tick end" }), {
      textContent: "0",
    }),
    Object.assign(svgElement("text", { x: right, y: bottom + 18, class: "tick end" }), {
      textContent: losses.length > 0 ? `step ${totalSteps}` : "steps",
    }),
    Object.assign(svgElement("text", { x: left, y: bottom + 18, class: "tick" }), {
      textContent: "loss per step",
    }),
    svgElement("polyline", {
      points: losses.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
      class: "curve",
    }),
  );
}
