/**
 * Rasterise SVG to PNG with resvg (WebAssembly), using a TrueType font found
 * on the system (`PLOT_FONT=/path/font.ttf` overrides the search).
 *
 * @module
 */
import { initWasm, Resvg } from "@resvg/resvg-wasm";

const FONT_CANDIDATES = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/TTF/DejaVuSans.ttf",
  "/usr/share/fonts/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
  "/System/Library/Fonts/Supplemental/Arial.ttf",
  "/Library/Fonts/Arial.ttf",
  "C:\\Windows\\Fonts\\arial.ttf",
];

let ready: Promise<Uint8Array | null> | null = null;

async function start(): Promise<Uint8Array | null> {
  await initWasm(
    await Deno.readFile(new URL("index_bg.wasm", import.meta.resolve("@resvg/resvg-wasm"))),
  );
  let override: string | undefined;
  try {
    override = Deno.env.get("PLOT_FONT");
  } catch { /* no env permission */ }
  for (const path of override ? [override] : FONT_CANDIDATES) {
    try {
      return await Deno.readFile(path);
    } catch { /* try the next */ }
  }
  return null;
}

/**
 * PNG bytes of `svg`, or null when no font was found (the PNG would have no
 * text; install fonts-dejavu-core or set PLOT_FONT).
 */
export async function svgToPng(svg: string, width?: number): Promise<Uint8Array | null> {
  ready ??= start();
  const font = await ready;
  if (!font) return null;
  const r = new Resvg(svg, {
    font: { fontBuffers: [font], defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    fitTo: width ? { mode: "width", value: width } : { mode: "zoom", value: 1.5 },
  });
  const png = r.render().asPng();
  r.free();
  return png;
}
