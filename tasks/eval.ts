/**
 * `deno task eval --checkpoint PATH [--data DIR] [--json]`: test accuracy and
 * per-class accuracy of a saved checkpoint (its metadata names the model and
 * preset), with the test-time augmentation training's final evaluation uses
 * unless `--tta` says otherwise. Reads only the test batch, and warns when
 * the weights or the logits are not finite (a diverged run still scores a
 * number).
 */

import { BACKEND_NAMES, selectBackend } from "../src/backend/select.ts";
import {
  choiceFlag,
  numberFlag,
  parseFlags,
  runMain,
  ttaFlag,
  UsageError,
} from "../src/cli/args.ts";
import { dataFlag, resolvePath } from "../src/cli/args.ts"; // paths relative to INIT_CWD
import { disposeTree } from "../src/core/params.ts";
import { CLASS_NAMES, loadTestSet } from "../src/data/cifar.ts";
import { checkpointModel, readCheckpoint } from "../src/train/checkpoint.ts";
import { dataDir, defaultConfig } from "../src/train/config.ts";
import { evaluate, TTA_MODES, warnNonFinite } from "../src/train/evaluate.ts";

const HELP = `Evaluate a checkpoint on the CIFAR-10 test set.

Usage: deno task eval --checkpoint PATH [--data DIR|sample] [--test-size N] [--backend NAME]
                      [--tta none|flip|flip-translate] [--no-tta] [--json]

Test-time augmentation (--tta) averages the logits of several views of each
image: flip-translate (the default, as training's final evaluation does) the
image and its shifts by one pixel up-left and down-right, each with its
mirror (six views); flip the image and its mirror; none (same as --no-tta)
the image alone.
`;

async function main(args: string[]): Promise<void> {
  const { values: v } = parseFlags({
    args,
    strict: true,
    options: {
      checkpoint: { type: "string" },
      data: { type: "string" },
      "test-size": { type: "string" },
      backend: { type: "string" },
      json: { type: "boolean" },
      tta: { type: "string" },
      "no-tta": { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (v.help) return void console.log(HELP);
  if (!v.checkpoint) {
    throw new UsageError(
      "--checkpoint PATH is required (a checkpoint.safetensors from a training run)",
    );
  }
  const backendName = choiceFlag("backend", v.backend, BACKEND_NAMES) ?? "auto";
  const tta = ttaFlag(v.tta, v["no-tta"], TTA_MODES) ?? defaultConfig("cnn").tta;
  const checkpoint = resolvePath(v.checkpoint);
  const ckpt = await readCheckpoint(checkpoint);
  const backend = await selectBackend(backendName, v.json);
  const { spec, params } = checkpointModel(ckpt);
  warnNonFinite(checkpoint, params);
  const data = await loadTestSet(
    dataDir(dataFlag(v.data) ?? "data/cifar-10-batches-bin"),
    { testSize: numberFlag("test-size", v["test-size"], { integer: true, min: 1 }) },
  );
  const result = await evaluate(spec, params, data.test, {
    tta,
    warn: (message) => console.warn(`Warning: ${checkpoint}: ${message}`),
  });
  disposeTree(params);
  if (v.json) {
    console.log(JSON.stringify({
      checkpoint: v.checkpoint,
      model: spec.kind,
      preset: spec.preset,
      params: spec.paramCount,
      testImages: result.size,
      testAccuracy: result.accuracy,
      nonFiniteImages: result.nonFiniteImages,
      tta,
      perClassAccuracy: Object.fromEntries(
        CLASS_NAMES.map((c, i) => [c, result.perClassAccuracy[i]]),
      ),
      backend: backend.name,
    }));
    return;
  }
  console.log(
    `${spec.kind} ${spec.preset} (${
      spec.paramCount.toLocaleString("en-US")
    } parameters), ${result.size} test images`,
  );
  const views = {
    none: "",
    flip: " (each image averaged with its mirror)",
    "flip-translate":
      " (six views averaged: each image and its one-pixel diagonal shifts, mirrored)",
  }[tta];
  console.log(
    `test accuracy${views}: ${(100 * result.accuracy).toFixed(2)}%`,
  );
  for (const [i, c] of CLASS_NAMES.entries()) {
    console.log(`  ${c.padEnd(11)} ${(100 * result.perClassAccuracy[i]).toFixed(1)}%`);
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));
