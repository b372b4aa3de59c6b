/**
 * `deno task compare`: train any set of models (a CNN-SA and a ViT matched
 * in size, plus ablations) on the same data and budget, or reuse runs with
 * --runs, and write a report. Rerunning with --resume DIR continues an
 * interrupted comparison.
 */
import { BACKEND_NAMES } from "../src/backend/select.ts";
import {
  choiceFlag,
  dataFlag,
  numberFlag,
  parseFlags,
  resolvePath,
  runMain,
  stamp,
  UsageError,
} from "../src/cli/args.ts";
import { PRESET_NAMES } from "../src/models/presets.ts";
import {
  compare,
  type CompareOptions,
  matchedPair,
  parseModels,
  PendingRunsError,
  readPlan,
} from "../src/entries/report.ts";
import { summaryTable } from "../src/report/report.ts";
import { stopOnSignals } from "../src/cli/interrupt.ts";
import { RunInterruptedError } from "../src/train/loop.ts";
import { defaultConfig } from "../src/train/config.ts";

/** Steps per model of the speed measurement after the runs (about a minute per hour model). */
const DEFAULT_SPEED_STEPS = 6;

const HELP = `Compare models on CIFAR-10: a CNN with self-attention and a ViT matched in
parameters (checked before anything trains), and any ablations beside them.

Usage: deno task compare [flags]

  --models LIST       comma-separated kind:preset, e.g. cnn:hour,cnn:hour-noattn,vit:hour-deep;
                      the first CNN with self-attention and the first ViT must be within 5%
                      in parameters (deno task info lists every preset)
  --preset NAME       shorthand for --models cnn:NAME,vit:NAME (${
  PRESET_NAMES.filter((p) => p !== "hour").join(" | ")
}; default small)
  --epochs N          epochs for every model: the primary budget (default 10)
  --minutes M         training-time budget for every model instead (default: none)
  --seeds N           repeat each model with seeds 0..N-1 (same data order per seed) (default 1)
  --batch-size N      (default: each preset's own; 256 for cnn:hour, cnn:hour-noattn and
                      vit:hour-deep, 128 for the others, vit:hour included)
  --threads N|auto    training threads of every run (default auto: 2 on a multi-core CPU; give 1
                      to run two compare processes side by side, one core each)
  --data DIR|sample   CIFAR-10 binary folder (default $CIFAR10_DIR or data/cifar-10-batches-bin)
  --train-size N      first N training images
  --test-size N       first N test images
  --backend NAME      ${BACKEND_NAMES.join(" | ")} (default auto)
  --reference A,B     finished runs to show beside the comparison at their own budget
  --speed-steps N     after the runs, time N training steps of each model alone, for the
                      report's speed figures (default ${DEFAULT_SPEED_STEPS}; 0 skips)
  --runs A B ...      reuse finished run folders instead of training
  --out DIR           output folder (default runs/compare-<timestamp>)
  --resume DIR        continue an interrupted comparison in DIR with its saved settings
  --checkpoint-minutes M
                      runs save a mid-epoch checkpoint M minutes after the last (default 10);
                      Ctrl-C stops the run under way after its step with a checkpoint, and
                      --resume continues from there
  --help              this text
`;

async function main(args: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags({
    args,
    allowPositionals: true,
    options: {
      models: { type: "string" },
      preset: { type: "string" },
      epochs: { type: "string" },
      minutes: { type: "string" },
      seeds: { type: "string" },
      "batch-size": { type: "string" },
      threads: { type: "string" },
      "checkpoint-minutes": { type: "string" },
      data: { type: "string" },
      "train-size": { type: "string" },
      "test-size": { type: "string" },
      backend: { type: "string" },
      reference: { type: "string" },
      "speed-steps": { type: "string" },
      runs: { type: "string" },
      out: { type: "string" },
      resume: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (v.help) return console.log(HELP);
  const runs = v.runs ? [v.runs, ...positionals] : undefined;
  if (!runs && positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${positionals[0]}"`);
  }
  if (runs && runs.length < 2) {
    throw new UsageError(
      "--runs takes two or more run folders: a CNN-SA run and a ViT run at least",
    );
  }
  if (v.models && v.preset) throw new UsageError("Give --models or --preset, not both");
  const backend = choiceFlag("backend", v.backend, BACKEND_NAMES) ?? "auto";
  // Paths on the command line are relative to the caller's folder (INIT_CWD).
  const reference = v.reference?.split(",").filter((s) => s).map((r) => resolvePath(r));
  const speedSteps = numberFlag("speed-steps", v["speed-steps"], { integer: true, min: 0 }) ??
    DEFAULT_SPEED_STEPS;
  const checkpointMinutes = numberFlag("checkpoint-minutes", v["checkpoint-minutes"], { min: 0 });
  if (v.resume) {
    const dir = resolvePath(v.resume);
    const settings = ["models", "preset", "epochs", "minutes", "seeds", "batch-size", "threads"]
      .concat(["data"])
      .concat(["train-size", "test-size", "runs", "out"]).filter((k) => v[k as keyof typeof v]);
    if (settings.length) {
      throw new UsageError(
        `--resume continues with the saved settings; drop --${settings.join(", --")}`,
      );
    }
    const plan = await readPlan(dir);
    if (!plan) throw new UsageError(`${dir}/compare.json is missing: nothing to resume`);
    return await compareAndReport({
      ...plan,
      backend,
      out: dir,
      reference,
      speedSteps,
      checkpointMinutes,
    });
  }
  let models;
  try {
    models = parseModels(v.models ?? `cnn:${v.preset ?? "small"},vit:${v.preset ?? "small"}`);
    if (!runs) matchedPair(models);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const defaults = defaultConfig(models[0].kind); // epochs and data: the same for every model
  const options: CompareOptions = {
    models,
    epochs: numberFlag("epochs", v.epochs, { integer: true, min: 1 }) ?? defaults.epochs,
    minutes: numberFlag("minutes", v.minutes, { min: 0 }) ?? 0,
    seeds: numberFlag("seeds", v.seeds, { integer: true, min: 1 }) ?? 1,
    batchSize: numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 }),
    threads: v.threads === undefined || v.threads === "auto"
      ? "auto"
      : numberFlag("threads", v.threads, { integer: true, min: 1 }),
    data: dataFlag(v.data) ?? defaults.data,
    trainSize: numberFlag("train-size", v["train-size"], { integer: true, min: 1 }),
    testSize: numberFlag("test-size", v["test-size"], { integer: true, min: 1 }),
    backend,
    out: resolvePath(v.out) ?? `runs/compare-${stamp()}`,
    uniqueOut: !v.out, // two default-named comparisons in one second get different folders
    runs: runs?.map((r) => resolvePath(r)),
    reference,
    speedSteps,
    checkpointMinutes,
  };
  await compareAndReport(options);
}

/**
 * Run the comparison and print its table; when other processes are still
 * training some of its runs, say so and end normally (this process's share
 * is done).
 */
async function compareAndReport(options: CompareOptions): Promise<void> {
  let r;
  const stop = stopOnSignals(
    "stopping the run under way after its step, with a checkpoint (or before the report)",
  );
  try {
    r = await compare({ ...options, signal: stop.signal });
    if (stop.signal.aborted) {
      // Past the last point where stopping saves anything: the files are written.
      console.error("compare: the stop came as the report was being saved; it is complete");
    }
  } catch (e) {
    if (e instanceof RunInterruptedError) {
      throw new RunInterruptedError(
        options.out,
        `${e.dir}: ${e.message}; continue the comparison with: deno task compare --resume ${options.out}`,
        stop.exitCode(),
      );
    }
    if (!(e instanceof PendingRunsError)) throw e;
    return console.error(`compare: ${e.message}`);
  } finally {
    stop.dispose();
  }
  console.log(summaryTable(r.results));
  console.log(`\nReport: ${r.out}/report.md`);
}

if (import.meta.main) await runMain(() => main(Deno.args));
