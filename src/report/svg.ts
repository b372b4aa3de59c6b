/**
 * Small SVG charts for the comparison report: line charts, grouped bars,
 * heatmaps with numbers, and images with an attention overlay. Plain
 * strings, no dependencies; `png.ts` rasterises them.
 *
 * @module
 */

/** Series colours (colour-blind safe: Okabe-Ito). */
export const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
const FONT = `font-family="DejaVu Sans, Arial, Helvetica, sans-serif"`;

/** Escape text for SVG. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function svg(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="white"/>${body}</svg>\n`;
}

function text(
  x: number,
  y: number,
  s: string,
  opts: { size?: number; anchor?: string; rotate?: boolean; weight?: string; fill?: string } = {},
): string {
  const rot = opts.rotate ? ` transform="rotate(-90 ${x} ${y})"` : "";
  return `<text x="${x}" y="${y}" ${FONT} font-size="${opts.size ?? 13}" text-anchor="${
    opts.anchor ?? "middle"
  }"` +
    ` font-weight="${opts.weight ?? "normal"}" fill="${opts.fill ?? "#222"}"${rot}>${
      esc(s)
    }</text>`;
}

/** "Nice" tick values from at or below `lo` to at or above `hi`. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
  return Array.from(
    { length: last - first + 1 },
    (_, i) => Number(((first + i) * step).toPrecision(12)),
  );
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

/** One line of a line chart; `band` draws ± a spread around it. */
export interface Series {
  name: string;
  points: [number, number][];
  band?: [number, number][];
}

/** A line chart with axes, ticks, labels and a legend. */
export function lineChart(
  o: {
    title: string;
    xLabel: string;
    yLabel: string;
    series: Series[];
    width?: number;
    height?: number;
  },
): string {
  const W = o.width ?? 640, H = o.height ?? 420, L = 70, R = 20, B = 55;
  // The legend goes in one row between the title and the plot when every name
  // fits its share of the width (about 6.6 px a character at size 12), else
  // one name a row; the plot starts below it.
  const slot = (W - L - R) / Math.max(1, o.series.length);
  const oneRow = o.series.every((s) => 20 + 6.6 * s.name.length <= slot);
  const T = 62 + (oneRow ? 0 : 16 * (o.series.length - 1));
  const all = o.series.flatMap((s) => [...s.points, ...(s.band ?? [])]);
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(0, ...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (!Number.isFinite(x1)) [x0, x1, y0, y1] = [0, 1, 0, 1];
  const pad = (y1 - y0) * 0.05 || 0.5;
  const xt = ticks(x0, x1), yt = ticks(y0 - pad, y1 + pad);
  [x0, x1, y0, y1] = [Math.min(x0, xt[0]), Math.max(x1, xt.at(-1)!), yt[0], yt.at(-1)!];
  const sx = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0 || 1)) * (H - T - B);
  let body = text(W / 2, 24, o.title, { size: 16, weight: "bold" });
  for (const t of yt) {
    body += `<line x1="${L}" x2="${W - R}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>` +
      text(L - 8, sy(t) + 4, fmt(t), { anchor: "end", size: 12 });
  }
  for (const t of xt) body += text(sx(t), H - B + 18, fmt(t), { size: 12 });
  body += `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${
    H - B
  }" stroke="#444"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#444"/>`;
  body += text((L + W - R) / 2, H - 14, o.xLabel) +
    text(18, (T + H - B) / 2, o.yLabel, { rotate: true });
  o.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    if (s.band && s.band.length === 2 * s.points.length) {
      body += `<polygon fill="${c}" fill-opacity="0.15" stroke="none" points="${
        s.band.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ")
      }"/>`;
    }
    body += `<polyline fill="none" stroke="${c}" stroke-width="2.5" points="${
      s.points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ")
    }"/>`;
    for (const [x, y] of s.points) {
      body += `<circle cx="${sx(x)}" cy="${sy(y)}" r="3" fill="${c}"/>`;
    }
    // Legend between the title and the plot, where it hides no data.
    const lx = oneRow ? L + i * slot : L, ly = oneRow ? 42 : 42 + 16 * i;
    body += `<rect x="${lx}" y="${ly}" width="14" height="4" fill="${c}"/>` +
      text(lx + 20, ly + 6, s.name, { anchor: "start", size: 12 });
  });
  return svg(W, H, body);
}

/** Grouped vertical bars: one group per category, one bar per series. */
export function barChart(
  o: {
    title: string;
    yLabel: string;
    categories: string[];
    series: { name: string; values: number[] }[];
    yMax?: number;
  },
): string {
  const W = 760, H = 400, L = 70, R = 20, T = 50, B = 80;
  const yMax = o.yMax ?? Math.max(...o.series.flatMap((s) => s.values), 1e-9);
  const yt = ticks(0, yMax);
  const top = Math.max(yt.at(-1)!, yMax);
  const sy = (y: number) => H - B - (y / top) * (H - T - B);
  const gw = (W - L - R) / o.categories.length, bw = (gw * 0.8) / o.series.length;
  let body = text(W / 2, 24, o.title, { size: 16, weight: "bold" });
  for (const t of yt) {
    body += `<line x1="${L}" x2="${W - R}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>` +
      text(L - 8, sy(t) + 4, fmt(t), { anchor: "end", size: 12 });
  }
  o.categories.forEach((c, i) => {
    o.series.forEach((s, j) => {
      const x = L + i * gw + gw * 0.1 + j * bw, v = s.values[i];
      body += `<rect x="${x}" y="${sy(v)}" width="${bw - 1}" height="${H - B - sy(v)}" fill="${
        COLORS[j % COLORS.length]
      }"/>`;
    });
    const cx = L + (i + 0.5) * gw;
    body += text(cx, H - B + 14, c, { size: 11, anchor: "end", rotate: false }).replace(
      "<text",
      `<text transform="rotate(-35 ${cx} ${H - B + 14})"`,
    );
  });
  body += `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#444"/>` +
    text(18, (T + H - B) / 2, o.yLabel, { rotate: true });
  o.series.forEach((s, j) => {
    const x = L + 10 + j * 170;
    body +=
      `<rect x="${x}" y="${T - 18}" width="12" height="12" fill="${COLORS[j % COLORS.length]}"/>` +
      text(x + 18, T - 8, s.name, { anchor: "start", size: 12 });
  });
  return svg(W, H, body);
}

/** A heatmap (e.g. a confusion matrix) with the value in each cell. */
export function heatmap(
  o: { title: string; rowLabel: string; colLabel: string; labels: string[]; values: number[][] },
): string {
  const n = o.labels.length,
    cell = 40,
    L = 130,
    T = 50,
    W = L + n * cell + 20,
    H = T + n * cell + 110;
  const max = Math.max(...o.values.flat(), 1e-9);
  let body = text(W / 2, 24, o.title, { size: 16, weight: "bold" });
  o.values.forEach((row, i) =>
    row.forEach((v, j) => {
      const a = v / max;
      const fill = `rgb(${Math.round(255 - a * 255)},${Math.round(255 - a * 141)},${
        Math.round(255 - a * 77)
      })`;
      body +=
        `<rect x="${L + j * cell}" y="${
          T + i * cell
        }" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff"/>` +
        text(L + j * cell + cell / 2, T + i * cell + cell / 2 + 4, String(v), {
          size: 11,
          fill: a > 0.55 ? "#fff" : "#222",
        });
    })
  );
  o.labels.forEach((l, i) => {
    body += text(L - 6, T + i * cell + cell / 2 + 4, l, { anchor: "end", size: 12 });
    const x = L + i * cell + cell / 2, y = T + n * cell + 8;
    body +=
      `<text x="${x}" y="${y}" ${FONT} font-size="12" text-anchor="end" transform="rotate(-45 ${x} ${y})">${
        esc(l)
      }</text>`;
  });
  body += text(L + (n * cell) / 2, H - 8, o.colLabel) +
    text(14, T + (n * cell) / 2, o.rowLabel, { rotate: true });
  return svg(W, H, body);
}

/** RGB pixels (`[h][w][3]`, 0-255) with an optional heat overlay (`[gh][gw]`, 0-1). */
export interface Overlay {
  title: string;
  pixels: number[][][];
  heat?: number[][];
  /** A marked cell in heat coordinates (e.g. the CNN's query position). */
  mark?: [number, number];
}

/** A grid of images with attention overlays, each titled. */
export function imageGrid(
  o: { title: string; rows: Overlay[][]; scale?: number; note?: string },
): string {
  const s = o.scale ?? 4, size = 32 * s, gap = 12, head = 50, cap = 18;
  const cols = Math.max(...o.rows.map((r) => r.length));
  const W = cols * (size + gap) + gap,
    H = head + o.rows.length * (size + cap + gap) + (o.note ? 20 : 0);
  let body = text(W / 2, 24, o.title, { size: 16, weight: "bold" });
  o.rows.forEach((row, r) =>
    row.forEach((img, c) => {
      const x0 = gap + c * (size + gap), y0 = head + r * (size + cap + gap);
      body += text(x0 + size / 2, y0 + 12, img.title, { size: 11 });
      const y1 = y0 + cap;
      img.pixels.forEach((line, y) =>
        line.forEach(([R, G, B], x) => {
          body += `<rect x="${x0 + x * s}" y="${
            y1 + y * s
          }" width="${s}" height="${s}" fill="rgb(${R},${G},${B})"/>`;
        })
      );
      if (img.heat) {
        const gh = img.heat.length, gw = img.heat[0].length, ch = size / gh, cw = size / gw;
        // Per-map min-max scaling, as attention-map figures usually do.
        const min = Math.min(...img.heat.flat()), span = Math.max(...img.heat.flat()) - min || 1;
        img.heat.forEach((line, y) =>
          line.forEach((v, x) => {
            body += `<rect x="${x0 + x * cw}" y="${
              y1 + y * ch
            }" width="${cw}" height="${ch}" fill="#ff2000" fill-opacity="${
              (0.65 * (v - min) / span).toFixed(3)
            }"/>`;
          })
        );
        if (img.mark) {
          const [my, mx] = img.mark;
          body += `<rect x="${x0 + mx * cw}" y="${
            y1 + my * ch
          }" width="${cw}" height="${ch}" fill="none" stroke="#00e0ff" stroke-width="2"/>`;
        }
      }
    })
  );
  if (o.note) body += text(W / 2, H - 6, o.note, { size: 11 });
  return svg(W, H, body);
}
