/**
 * `deno task train:cnn` / `deno task train:vit`: train one model on CIFAR-10.
 * Run with --help for the flags.
 */
import { parseArgs } from "node:util";
import { BACKEND_NAMES } from "../src/backend/select.ts";
import { choiceFlag, numberFlag, runMain, stamp, ttaFlag, UsageError } from "../src/cli/args.ts";
import { type ModelKind, presetNames } from "../src/models/presets.ts";
import { defaultConfig, presetDefaults, type TrainConfig } from "../src/train/config.ts";
import { TTA_MODES } from "../src/train/evaluate.ts";
import { train } from "../src/train/loop.ts";

function help(model: string): string {
  const d = defaultConfig(model as ModelKind);
  return `Train the ${model === "cnn" ? "CNN with self-attention" : "ViT"} on CIFAR-10.

Usage: deno task train:${model} [flags]

  --preset NAME        ${presetNames(model as ModelKind).join(" | ")} (default ${d.preset});
                       hour and hour-* bring their own defaults: batch 256, lr ${
    presetDefaults(model as ModelKind, "hour").lr
  }, warmup 0.5
  --epochs N           epochs (default ${d.epochs})
  --minutes M          time budget for training; the lr schedule follows it; stops cleanly and evaluates
  --batch-size N       images per step (default ${d.batchSize})
  --lr X               peak learning rate (default ${d.lr})
  --weight-decay X     AdamW decoupled weight decay (default ${d.weightDecay})
  --warmup-epochs X    linear warmup before the cosine decay (default ${d.warmupEpochs})
  --label-smoothing X  (default ${d.labelSmoothing})
  --no-augment         no random crop and flip
  --tta MODE           views averaged in the final evaluation: ${
    TTA_MODES.join(" | ")
  } (default ${d.tta})
  --no-tta             same as --tta none
  --seed N             seed for initialisation, order, augmentation (default ${d.seed})
  --data DIR|sample    CIFAR-10 binary folder (default $CIFAR10_DIR or ${d.data}); "sample" = shipped 1,000/200 images
  --train-size N       use the first N training images
  --test-size N        use the first N test images
  --backend NAME       ${BACKEND_NAMES.join(" | ")} (default auto)
  --out DIR            output folder (default runs/${model}-<timestamp>)
  --resume DIR         continue the run in DIR from its checkpoint
  --help               this text
`;
}

export async function main(args: string[]): Promise<void> {
  const model = args[0];
  if (model !== "cnn" && model !== "vit") {
    throw new UsageError(
      `The first argument must be cnn or vit, got "${model}"`,
    );
  }
  const { values: v } = parseArgs({
    args: args.slice(1),
    strict: true,
    options: {
      preset: { type: "string" },
      epochs: { type: "string" },
      minutes: { type: "string" },
      "batch-size": { type: "string" },
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
      help: { type: "boolean" },
    },
  });
  if (v.help) {
    console.log(help(model));
    return;
  }
  const preset = choiceFlag("preset", v.preset, presetNames(model)) ?? defaultConfig(model).preset;
  const d = { ...defaultConfig(model), ...presetDefaults(model, preset) };
  const config: TrainConfig = {
    ...d,
    preset,
    epochs: numberFlag("epochs", v.epochs, { integer: true, min: 1 }) ??
      d.epochs,
    minutes: numberFlag("minutes", v.minutes, { min: 0 }) ?? d.minutes,
    batchSize: numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 }) ??
      d.batchSize,
    lr: numberFlag("lr", v.lr, { min: 0 }) ?? d.lr,
    weightDecay: numberFlag("weight-decay", v["weight-decay"], { min: 0 }) ??
      d.weightDecay,
    warmupEpochs: numberFlag("warmup-epochs", v["warmup-epochs"], { min: 0 }) ??
      d.warmupEpochs,
    labelSmoothing: numberFlag("label-smoothing", v["label-smoothing"], { min: 0, max: 1 }) ??
      d.labelSmoothing,
    augment: !v["no-augment"],
    tta: ttaFlag(v.tta, v["no-tta"]) ?? d.tta,
    seed: numberFlag("seed", v.seed, { integer: true, min: 0 }) ?? d.seed,
    data: v.data ?? Deno.env.get("CIFAR10_DIR") ?? d.data,
    trainSize: numberFlag("train-size", v["train-size"], {
      integer: true,
      min: 1,
    }),
    testSize: numberFlag("test-size", v["test-size"], {
      integer: true,
      min: 1,
    }),
    backend: choiceFlag("backend", v.backend, BACKEND_NAMES) ?? d.backend,
    out: v.out ?? `runs/${model}-${stamp()}`,
  };
  const summary = await train(config, { resume: v.resume });
  console.log(
    JSON.stringify(
      summary,
      (k, val) => (k === "confusion" ? undefined : val),
      2,
    ),
  );
}

if (import.meta.main) await runMain(() => main(Deno.args));
