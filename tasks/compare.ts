/**
 * `deno task compare`: train the CNN-SA and the ViT at comparable size on the
 * same data and budget (or reuse runs with --runs A B), and write a report.
 */
import { parseArgs } from "node:util";
import { BACKEND_NAMES } from "../src/backend/select.ts";
import { choiceFlag, numberFlag, runMain, stamp, UsageError } from "../src/cli/args.ts";
import { dataFlag, resolvePath } from "../src/cli/args.ts"; // paths relative to INIT_CWD
import { PRESET_NAMES } from "../src/models/presets.ts";
import { compare } from "../src/report/compare.ts";
import { summaryTable } from "../src/report/report.ts";

const HELP = `Compare the CNN with self-attention and the ViT on CIFAR-10.

Usage: deno task compare [flags]

  --preset NAME       ${PRESET_NAMES.join(" | ")}: a pair within 5% in parameters (default small)
  --epochs N          epochs for each model (default 10)
  --minutes M         training-time budget for each model (default: none)
  --seeds N           repeat each model with seeds 0..N-1 and report mean ± std (default 1)
  --batch-size N      (default 128)
  --data DIR|sample   CIFAR-10 binary folder (default $CIFAR10_DIR or data/cifar-10-batches-bin)
  --train-size N      first N training images
  --test-size N       first N test images
  --backend NAME      ${BACKEND_NAMES.join(" | ")} (default auto)
  --runs A B          reuse two finished run folders (one CNN, one ViT) instead of training
  --out DIR           output folder (default runs/compare-<timestamp>)
`;

async function main(args: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      preset: { type: "string" },
      epochs: { type: "string" },
      minutes: { type: "string" },
      seeds: { type: "string" },
      "batch-size": { type: "string" },
      data: { type: "string" },
      "train-size": { type: "string" },
      "test-size": { type: "string" },
      backend: { type: "string" },
      runs: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (v.help) return console.log(HELP);
  const runs = v.runs ? [v.runs, ...positionals] : undefined;
  if (!runs && positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${positionals[0]}"`);
  }
  if (runs && runs.length !== 2) {
    throw new UsageError("--runs takes two run folders: one CNN run and one ViT run");
  }
  const out = resolvePath(v.out) ?? `runs/compare-${stamp()}`;
  const { results } = await compare({
    preset: choiceFlag("preset", v.preset, PRESET_NAMES) ?? "small",
    epochs: numberFlag("epochs", v.epochs, { integer: true, min: 1 }) ?? 10,
    minutes: numberFlag("minutes", v.minutes, { min: 0 }) ?? 0,
    seeds: numberFlag("seeds", v.seeds, { integer: true, min: 1 }) ?? 1,
    batchSize: numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 }),
    data: dataFlag(v.data) ?? "data/cifar-10-batches-bin",
    trainSize: numberFlag("train-size", v["train-size"], { integer: true, min: 1 }),
    testSize: numberFlag("test-size", v["test-size"], { integer: true, min: 1 }),
    backend: choiceFlag("backend", v.backend, BACKEND_NAMES) ?? "auto",
    out,
    runs: runs?.map((r) => resolvePath(r)),
  });
  console.log(summaryTable(results));
  console.log(`\nReport: ${out}/report.md`);
}

if (import.meta.main) await runMain(() => main(Deno.args));
