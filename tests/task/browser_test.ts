// The page and the root entry in headless Chromium, driven over the
// DevTools protocol: the page's accuracies equal evaluate()'s on the same
// images, its attention maps are drawn, its console stays clean; a browser
// bundle of mod.ts has no node: import and gives Deno's ViT logits.
// Without a chromium on PATH (or $CHROMIUM) the tests are ignored, loudly.
import assert from "node:assert/strict";
import { buildSite } from "../../tasks/site.ts";
import { serveFolder } from "../../tasks/serve.ts";
import { disposeTree } from "../../src/core/params.ts";
import { brand } from "../../src/core/tensor.ts";
import { fillBatch } from "../../src/data/batches.ts";
import { loadCifar10 } from "../../src/data/cifar.ts";
import { checkpointModel, readCheckpoint } from "../../src/train/checkpoint.ts";
import { dataDir } from "../../src/train/config.ts";
import { evaluate } from "../../src/train/evaluate.ts";
import { predict } from "../../src/train/step.ts";
import * as tf from "@tensorflow/tfjs";
import { Chromium, findChromium, type Page } from "../_chromium.ts";
import { PROBE_IMAGES } from "../browser_entry.ts";
import { maxAbsDiff, setup } from "../_setup.ts";

const CHROMIUM = findChromium();
const SKIPPED = CHROMIUM === null ? " (skipped: no chromium)" : "";
if (CHROMIUM === null) {
  console.warn(
    "%cskipped: no chromium: the browser tests did not run (apt-get install chromium, or set CHROMIUM=/path)",
    "color: orange; font-weight: bold",
  );
}
/** Test images the page ships in this test: few, so Chromium classifies them in seconds. */
const IMAGES = 50;
/** Where the screenshot goes (runs/ is ignored by git). */
const ARTIFACTS = new URL("../../runs/browser-test/", import.meta.url);
const ROOT = new URL("../../", import.meta.url);
const path = (url: URL) => decodeURIComponent(url.pathname);

/** Each shipped model's correct count on the first `IMAGES` sample test images, one view. */
async function expectedCounts(): Promise<Record<string, number>> {
  const { test } = await loadCifar10(dataDir("sample"), { trainSize: 1, testSize: IMAGES });
  const counts: Record<string, number> = {};
  for (const kind of ["cnn", "vit"]) {
    const { spec, params } = checkpointModel(
      await readCheckpoint(path(new URL(`weights/${kind}-hour.safetensors`, ROOT))),
    );
    const result = await evaluate(spec, params, test, { tta: "none" });
    counts[kind] = Math.round(result.accuracy * result.size);
    disposeTree(params);
  }
  return counts;
}

/** Deno's logits of the shipped ViT on the first `PROBE_IMAGES` sample test images. */
async function denoVitLogits(): Promise<Float32Array> {
  const { test } = await loadCifar10(dataDir("sample"), { trainSize: 1, testSize: PROBE_IMAGES });
  const { spec, params } = checkpointModel(
    await readCheckpoint(path(new URL("weights/vit-hour.safetensors", ROOT))),
  );
  const pixels = new Float32Array(PROBE_IMAGES * 3072), labels = new Int32Array(PROBE_IMAGES);
  fillBatch(test, [...Array(PROBE_IMAGES).keys()], pixels, labels, null);
  const images = brand(tf.tensor4d(pixels, [PROBE_IMAGES, 32, 32, 3]), [
    "batch",
    "height",
    "width",
    "channels",
  ]);
  const { logits } = await predict(spec.apply, params, images);
  images.dispose();
  disposeTree(params);
  return logits;
}

/** tests/browser_entry.ts bundled for browsers, once (both tests read it). */
let probeJs: Promise<string> | null = null;
function bundleProbe(): Promise<string> {
  return probeJs ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "probe-bundle-" });
    try {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--quiet",
          "--platform",
          "browser",
          "--config",
          path(new URL("deno.json", ROOT)),
          "--output",
          `${dir}/probe.js`,
          path(new URL("../browser_entry.ts", import.meta.url)),
        ],
        stderr: "piped",
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      return await Deno.readTextFile(`${dir}/probe.js`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
}

/** The probe bundle and a page that loads it, in `dir`. */
async function writeProbe(dir: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/probe.js`, await bundleProbe());
  await Deno.writeTextFile(
    `${dir}/probe.html`,
    `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">` +
      `<script type="module" src="probe.js"></script>`,
  );
}

/** Standard deviation of a canvas's red channel: 0 for a blank or flat canvas. */
function canvasSpread(selector: string): string {
  return `(() => {
    const canvases = [...document.querySelectorAll(${JSON.stringify(selector)})];
    return canvases.map((c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let s = 0, s2 = 0, n = d.length / 4;
      for (let i = 0; i < d.length; i += 4) { s += d[i]; s2 += d[i] * d[i]; }
      return c.dataset.drawn === "true" ? Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2)) : -1;
    });
  })()`;
}

// Needs no browser: what Chromium refused was the bundle's node:path import.
Deno.test("mod.ts bundled for browsers (deno bundle --platform browser) has no node: import", async () => {
  const js = await bundleProbe();
  assert.doesNotMatch(js, /["']node:[a-z_/]+["']/);
  assert.match(
    js,
    /multiHeadAttention|vitClassAttention|parseCheckpoint/,
    "the root's code is in it",
  );
});

Deno.test({
  name: `browser: the page and the root entry in headless Chromium${SKIPPED}`,
  ignore: CHROMIUM === null,
  // Chromium's own processes and sockets outlive single steps by design.
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await setup();
  const dir = await Deno.makeTempDir({ prefix: "site-test-" });
  const controller = new AbortController();
  let browser: Chromium | null = null;
  try {
    const [, , expected, denoLogits] = await Promise.all([
      buildSite({ data: "sample", images: IMAGES, trainImages: 256, out: dir, quiet: true }),
      writeProbe(dir),
      expectedCounts(),
      denoVitLogits(),
    ]);
    const url = await new Promise<string>((resolve) =>
      serveFolder(dir, { port: 0, signal: controller.signal, onListen: resolve })
    );
    browser = await Chromium.launch(CHROMIUM!);

    await t.step(
      "the page's accuracy of each model equals evaluate() on the same images",
      async () => {
        const page = await browser!.newPage(1200, 900);
        await page.goto(url);
        await page.waitFor("document.documentElement.dataset.ready", 120_000);
        const shown = await page.evaluate<{ model: string; correct: string; total: string }[]>(
          `[...document.querySelectorAll("[data-model-accuracy]")].map((e) => ({ ...e.dataset }))`,
        );
        const views = await page.evaluate<string>(`document.getElementById("views").textContent`);
        const backend = await page.evaluate<string>(
          `document.getElementById("backend").textContent`,
        );
        console.log(`  page on ${backend}; views: ${views}`);
        for (const s of shown) {
          console.log(
            `  ${s.model}: page ${s.correct}/${s.total}, evaluate() ${expected[s.model]}/${IMAGES}`,
          );
        }
        assert.match(views, /--tta none/, "the page says it uses one view, as compared");
        assert.deepEqual(
          Object.fromEntries(shown.map((s) => [s.model, [Number(s.correct), Number(s.total)]])),
          { cnn: [expected.cnn, IMAGES], vit: [expected.vit, IMAGES] },
        );
        await checkAttention(page);
        await checkKeyboard(page);
        await Deno.mkdir(ARTIFACTS, { recursive: true });
        await Deno.writeFile(new URL("site.png", ARTIFACTS), await page.screenshot());
        console.log(`  screenshot: ${path(new URL("site.png", ARTIFACTS))}`);
        // Readable on a phone: nothing wider than a 360-pixel screen.
        await page.send("Emulation.setDeviceMetricsOverride", {
          width: 360,
          height: 800,
          deviceScaleFactor: 1,
          mobile: true,
        });
        assert.equal(await page.evaluate("document.documentElement.scrollWidth"), 360);
        assert.deepEqual(page.errors, [], "console errors");
      },
    );

    await t.step("the ViT's logits in Chromium are Deno's (<= 1e-4)", async () => {
      // wasm: the backend the page picks here. cpu and SwiftShader's webgl
      // agree as closely (1.3e-6, 8e-7 when measured) but take 12-18 s more.
      for (const backend of ["wasm"]) {
        const page = await browser!.newPage();
        await page.goto(`${url}probe.html?backend=${backend}`);
        const result = await page.waitFor<{ backend: string; logits: number[] }>(
          "globalThis.probe",
          60_000,
        );
        const diff = maxAbsDiff(result.logits, denoLogits);
        console.log(`  ${result.backend}: max |browser - Deno| = ${diff.toExponential(2)}`);
        assert.equal(result.backend, backend);
        assert.ok(diff <= 1e-4, `${backend}: logits differ by ${diff}`);
        assert.deepEqual(page.errors, [], "console errors");
      }
    });
  } finally {
    await browser?.close();
    controller.abort();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Every attention canvas has been drawn, and not in one flat colour. */
async function checkAttention(page: Page): Promise<void> {
  const cnn = await page.evaluate<number[]>(canvasSpread("#cnn-map"));
  const vit = await page.evaluate<number[]>(canvasSpread("#vit-maps canvas"));
  assert.equal(vit.length, 5, "four ViT layers and the rollout");
  for (const spread of [...cnn, ...vit]) assert.ok(spread > 1, `canvas spread ${spread}`);
}

/** The arrow keys move the CNN's query on the focused image. */
async function checkKeyboard(page: Page): Promise<void> {
  const before = await page.evaluate<string>(`document.getElementById("query-text").textContent`);
  await page.evaluate(`document.getElementById("query").focus()`);
  for (const type of ["keyDown", "keyUp"]) {
    await page.send("Input.dispatchKeyEvent", {
      type,
      key: "ArrowRight",
      code: "ArrowRight",
      windowsVirtualKeyCode: 39,
    });
  }
  const after = await page.evaluate<string>(`document.getElementById("query-text").textContent`);
  assert.notEqual(after, before, "ArrowRight moved the query");
}
