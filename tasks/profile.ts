/**
 * `deno task profile --model cnn|vit --preset P [--batch-size N] [--steps K]`:
 * where one training step's time goes, per kernel (calls, milliseconds,
 * share of the step) and outside kernels, on the step the training loop and
 * the bench run. `--json` prints the profile as one JSON object.
 */

import { BACKEND_NAMES, selectBackend } from "../src/backend/select.ts";
import { choiceFlag, numberFlag, parseFlags, runMain, UsageError } from "../src/cli/args.ts";
import { modelSpec, PRESET_NAMES } from "../src/models/presets.ts";
import { trainingBatchSize } from "../src/bench/measure.ts";
import { formatProfile, profileSteps } from "../src/bench/profile.ts";

const USAGE = `Usage: deno task profile --model cnn|vit --preset ${PRESET_NAMES.join("|")}
  [--batch-size N (default: the preset's training batch)] [--steps K (default 3)]
  [--warmup W (default 2)] [--top T (default 15)] [--by-shape] [--backend auto|fast|...] [--json]
--by-shape times each kernel at each combination of input shapes separately.`;

async function main(args: string[]): Promise<void> {
  const { values: v } = parseFlags({
    args,
    strict: true,
    options: {
      model: { type: "string" },
      preset: { type: "string" },
      "batch-size": { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string" },
      top: { type: "string" },
      "by-shape": { type: "boolean" },
      backend: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (v.help) return console.log(USAGE);
  const model = choiceFlag("model", v.model ?? "vit", ["cnn", "vit"] as const)!;
  // modelSpec() knows every preset name, including ones only one kind has.
  const spec = (() => {
    try {
      return modelSpec(model, v.preset ?? "hour");
    } catch (e) {
      throw new UsageError(`--preset: ${(e as Error).message}`);
    }
  })();
  const batchSize = numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 }) ??
    trainingBatchSize(spec);
  const steps = numberFlag("steps", v.steps, { integer: true, min: 1 }) ?? 3;
  const warmup = numberFlag("warmup", v.warmup, { integer: true, min: 0 }) ?? 2;
  const top = numberFlag("top", v.top, { integer: true, min: 1 }) ?? 15;
  const backend = await selectBackend(
    choiceFlag("backend", v.backend, BACKEND_NAMES) ?? "auto",
    v.json,
  );
  const profile = await profileSteps(spec, backend.name, {
    batchSize,
    steps,
    warmup,
    byShape: v["by-shape"],
  });
  console.log(v.json ? JSON.stringify(profile) : formatProfile(profile, top));
}

if (import.meta.main) await runMain(() => main(Deno.args));
