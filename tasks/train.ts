/**
 * `deno task train:cnn` / `deno task train:vit`: train one model on CIFAR-10,
 * or resume a run. Run with --help for the flags.
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
  ttaFlag,
  UsageError,
} from "../src/cli/args.ts";
import { stopOnSignals } from "../src/cli/interrupt.ts";
import { type ModelKind, presetNames } from "../src/models/presets.ts";
import {
  defaultConfig,
  presetDefaults,
  resolveConfig,
  type ResumeChanges,
} from "../src/train/config.ts";
import { TTA_MODES } from "../src/train/evaluate.ts";
import {
  DEFAULT_CHECKPOINT_MINUTES,
  resume,
  RunConfigError,
  RunInterruptedError,
  RunLockedError,
  train,
  type TrainSummary,
} from "../src/train/loop.ts";

/** Each preset's own batch, peak lr (and micro-batches where set), for the help. */
function hourDefaults(model: ModelKind): string {
  return presetNames(model).flatMap((p) => {
    const { batchSize, lr, microBatches } = presetDefaults(model, p);
    if (lr === undefined) return [];
    const parts = [`batch ${batchSize}`, `lr ${lr}`];
    if (microBatches) parts.push(`micro-batches ${microBatches}`);
    return [`${p}: ${parts.join(", ")}`];
  }).join("; ");
}

function help(model: ModelKind): string {
  const d = defaultConfig(model);
  return `Train the ${model === "cnn" ? "CNN with self-attention" : "ViT"} on CIFAR-10.

Usage: deno task train:${model} [flags]
       deno task train:${model} --resume DIR [--epochs N] [--minutes M] [--data DIR] [--backend NAME]

  --preset NAME        ${presetNames(model as ModelKind).join(" | ")} (default ${d.preset});
                       hour and hour-* bring their own defaults: warmup 0.5,
                       ${hourDefaults(model as ModelKind)}
  --epochs N           epochs, >= 1 (default ${d.epochs})
  --minutes M          training-time budget in minutes (default 0: none); stops cleanly before a
                       step that would end past it, then evaluates; the lr schedule follows it.
                       The first step always runs (its duration is unknown until then)
  --batch-size N       images per step, at most the training images (default ${d.batchSize})
  --micro-batches K    compute each step's gradient in K equal parts, to fit memory; the same
                       step for models without batch norm (default ${d.microBatches ?? 1})
  --threads N|auto     training threads on a CPU backend: N-1 worker threads compute micro-batches
                       beside the main thread, at least one each (default auto: 2 with two or more
                       cores on the fast, wasm or cpu backend, else 1)
  --lr X               peak learning rate, > 0 (default ${d.lr})
  --weight-decay X     AdamW decoupled weight decay, >= 0 (default ${d.weightDecay})
  --warmup-epochs X    linear warmup before the cosine decay, >= 0 (default ${d.warmupEpochs})
  --label-smoothing X  >= 0 and < 1 (default ${d.labelSmoothing})
  --no-augment         no random crop and flip
  --tta MODE           views averaged in the final evaluation: ${
    TTA_MODES.join(" | ")
  } (default ${d.tta})
  --no-tta             same as --tta none
  --seed N             seed for initialisation, order, augmentation, 0 to 2^32-1 (default ${d.seed})
  --data DIR|sample    CIFAR-10 binary folder (default $CIFAR10_DIR or ${d.data});
                       "sample" = shipped 1,000/200 images
  --train-size N       use the first N training images (all if there are fewer)
  --test-size N        use the first N test images (all if there are fewer)
  --backend NAME       ${BACKEND_NAMES.join(" | ")} (default auto)
  --out DIR            a new folder for the run (default runs/${model}-<timestamp>, with -2, -3, ...
                       added if taken); a folder that already holds a run is refused
  --resume DIR         continue the run in DIR from its checkpoint, with its saved settings; only
                       --epochs, --minutes (the whole run's budget, time already trained included),
                       --data (if the data moved) and --backend may be given, and are saved
  --checkpoint-minutes M
                       besides the checkpoint after every epoch, save one mid-epoch when M minutes
                       have passed since the last (default ${DEFAULT_CHECKPOINT_MINUTES}; 0: after every step,
                       slow, for tests and very short runs); Ctrl-C stops after the
                       step under way and saves one there, so a run resumes where it stopped
  --help               this text

Relative paths are relative to the folder you ran the task from.
`;
}

/** The flags a resumed run may change; the others are its saved settings. */
const RESUME_FLAGS = ["resume", "epochs", "minutes", "data", "backend", "checkpoint-minutes"];

export async function main(args: string[]): Promise<void> {
  const model = args[0];
  if (model !== "cnn" && model !== "vit") {
    throw new UsageError(
      `The first argument must be cnn or vit, got "${model}"`,
    );
  }
  const { values: v } = parseFlags({
    args: args.slice(1),
    options: {
      preset: { type: "string" },
      epochs: { type: "string" },
      minutes: { type: "string" },
      "batch-size": { type: "string" },
      "micro-batches": { type: "string" },
      threads: { type: "string" },
      lr: { type: "string" },
      "weight-decay": { type: "string" },
      "warmup-epochs": { type: "string" },
      "label-smoothing": { type: "string" },
      "no-augment": { type: "boolean" },
      tta: { type: "string" },
      "no-tta": { type: "boolean" },
      seed: { type: "string" },
      data: { type: "string" },
      "train-size": { type: "string" },
      "test-size": { type: "string" },
      backend: { type: "string" },
      out: { type: "string" },
      resume: { type: "string" },
      "checkpoint-minutes": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (v.help) {
    console.log(help(model));
    return;
  }
  const epochs = numberFlag("epochs", v.epochs, { integer: true, min: 1 });
  const minutes = numberFlag("minutes", v.minutes, { min: 0 });
  const backend = choiceFlag("backend", v.backend, BACKEND_NAMES);
  const checkpointMinutes = numberFlag("checkpoint-minutes", v["checkpoint-minutes"], { min: 0 });
  if (v.resume !== undefined) {
    const refused = Object.keys(v).filter((k) => !RESUME_FLAGS.includes(k));
    if (refused.length > 0) {
      const names = refused.map((k) => `--${k}`);
      const flags = names.length === 1
        ? names[0]
        : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
      throw new UsageError(
        `${flags} cannot be given with --resume: a resumed run keeps its saved settings, and ` +
          `only --epochs, --minutes, --data and --backend may change (and --checkpoint-minutes be ` +
          `given). To train with other ` +
          `settings, start a new run.`,
      );
    }
    if (v.resume === "") throw new UsageError("--resume needs the run's folder");
    const dir = resolvePath(v.resume)!;
    const changes: ResumeChanges = {
      epochs,
      minutes,
      data: v.data === undefined ? undefined : dataFlag(v.data), // not $CIFAR10_DIR: --data only
      backend,
    };
    return report(
      await trainOrRefuse(
        model,
        (signal) => resume(dir, changes, { model, checkpointMinutes, signal }),
        (message) => message.startsWith(dir) ? `--resume ${message}` : message,
      ),
    );
  }

  if (v.out !== undefined && v.out.trim() === "") {
    throw new UsageError("--out needs a folder name (omit it for runs/<model>-<timestamp>)");
  }
  const config = refusedAsUsage(() =>
    resolveConfig(model, {
      preset: choiceFlag("preset", v.preset, presetNames(model)),
      epochs,
      minutes,
      batchSize: numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 }),
      microBatches: numberFlag("micro-batches", v["micro-batches"], { integer: true, min: 1 }),
      threads: v.threads === undefined || v.threads === "auto"
        ? "auto"
        : numberFlag("threads", v.threads, { integer: true, min: 1 }),
      // lr 0 would run every step and change nothing.
      lr: numberFlag("lr", v.lr, { above: 0 }),
      weightDecay: numberFlag("weight-decay", v["weight-decay"], { min: 0 }),
      warmupEpochs: numberFlag("warmup-epochs", v["warmup-epochs"], { min: 0 }),
      // Smoothing 1 makes every target uniform: nothing left to learn.
      labelSmoothing: numberFlag("label-smoothing", v["label-smoothing"], { min: 0, below: 1 }),
      augment: v["no-augment"] ? false : undefined,
      tta: ttaFlag(v.tta, v["no-tta"], TTA_MODES),
      // The generator keeps 32 bits of the seed; larger seeds would alias smaller ones.
      seed: numberFlag("seed", v.seed, { integer: true, min: 0, max: 2 ** 32 - 1 }),
      data: dataFlag(v.data),
      trainSize: numberFlag("train-size", v["train-size"], { integer: true, min: 1 }),
      testSize: numberFlag("test-size", v["test-size"], { integer: true, min: 1 }),
      backend,
      out: resolvePath(v.out) ?? `runs/${model}-${stamp()}`,
    })
  );
  const options = { uniqueOut: v.out === undefined, checkpointMinutes };
  report(await trainOrRefuse(model, (signal) => train(config, { ...options, signal })));
}

/** `make()`, with a refusal of the settings as a usage error (exit 2). */
function refusedAsUsage<T>(make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof RunConfigError) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * Train with Ctrl-C saving a checkpoint (see {@linkcode stopOnSignals});
 * refusals of the settings become usage errors (exit 2; `refusal` words
 * them), and a stop says how to continue.
 */
async function trainOrRefuse(
  model: ModelKind,
  run: (signal: AbortSignal) => Promise<TrainSummary>,
  refusal: (message: string) => string = (m) => m,
): Promise<TrainSummary> {
  const stop = stopOnSignals("stopping after the step under way, with a checkpoint");
  try {
    return await run(stop.signal);
  } catch (e) {
    // Refusals that changed nothing exit 2, like usage errors.
    if (e instanceof RunConfigError || e instanceof RunLockedError) {
      throw new UsageError(refusal(e.message));
    }
    if (e instanceof RunInterruptedError) {
      throw new RunInterruptedError(
        e.dir,
        `${e.message}; continue with: deno task train:${model} --resume ${e.dir}`,
        stop.exitCode(),
      );
    }
    throw e;
  } finally {
    stop.dispose();
  }
}

function report(summary: TrainSummary): void {
  console.log(JSON.stringify(summary, (k, val) => (k === "confusion" ? undefined : val), 2));
}

if (import.meta.main) await runMain(() => main(Deno.args));
