/**
 * Training checkpoints in safetensors: parameters under their dotted names,
 * AdamW moments under `opt.m.` and `opt.v.`, and the run's state (config,
 * epoch, step, RNG, best accuracy) as metadata.
 *
 * @module
 */
import { disposeTree, type ParamTree } from "../core/params.ts";
import type { ImageSet } from "../data/cifar.ts";
import { Rng } from "../core/rng.ts";
import { type ModelKind, type ModelSpec, modelSpec } from "../models/presets.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  rawToTree,
  treeToRaw,
  writeFileAtomic,
} from "../core/safetensors.ts";
import type { AdamWState } from "./adamw.ts";
import { resolveConfig, type TrainConfig } from "./config.ts";
import { withCurrentStatistics } from "./evaluate.ts";
import type { EpochMetrics } from "./records.ts";

/**
 * The run state besides tensors. Fields added later are optional, so older
 * checkpoints still resume.
 */
export interface RunState {
  /** The run's settings. */
  config: TrainConfig;
  /** The last finished epoch. */
  epoch: number;
  /** Steps taken so far. */
  step: number;
  /** The generator's state, to resume bit for bit. */
  rng: Rng["state"];
  /** Best per-epoch test accuracy so far. */
  bestTestAccuracy: number;
  /** Training seconds so far (evaluation excluded). */
  trainSeconds: number;
  /**
   * The `metrics.jsonl` line of `epoch`: the checkpoint is written before the
   * line, and a run killed between the two gets it back when it resumes.
   */
  metrics?: EpochMetrics;
  /** Duration of the last step, so a resumed run under --minutes knows what a step costs. */
  lastStepSeconds?: number;
  /**
   * Set when the checkpoint was saved mid-epoch (epoch `epoch + 1`): where
   * the epoch stands, to resume at its next step.
   */
  partial?: PartialEpoch;
}

/** How far an unfinished epoch got, saved in a mid-epoch checkpoint. */
export interface PartialEpoch {
  /** Steps of the epoch already taken. */
  step: number;
  /** The generator's state when the epoch began, which drew the epoch's order. */
  epochRng: Rng["state"];
  /** Sum of the per-image training loss over the epoch's steps so far. */
  lossSum: number;
  /** Correct training predictions so far. */
  correct: number;
  /** Training images so far. */
  seen: number;
  /** Learning rate of the last step. */
  lr: number;
  /** Training seconds of the epoch so far. */
  seconds: number;
}

/** Write a checkpoint atomically; the optimizer state is optional (weights-only files). */
export async function saveCheckpoint<P extends ParamTree>(
  path: string,
  params: P,
  opt: AdamWState<P> | null,
  run: RunState,
): Promise<void> {
  const tensors = await treeToRaw(params);
  if (opt) {
    tensors.push(
      ...(await treeToRaw(opt.m, "opt.m.")),
      ...(await treeToRaw(opt.v, "opt.v.")),
    );
  }
  const metadata: Record<string, string> = {
    format: "vision-attention-checkpoint/1",
    model: run.config.model,
    preset: run.config.preset,
    run: JSON.stringify({ ...run, optStep: opt?.step ?? null }),
  };
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** What a checkpoint holds, before it is matched to a model. */
export interface CheckpointHeader {
  /** The model kind, as saved (`cnn` or `vit`). */
  model: string;
  /** The preset name, as saved. */
  preset: string;
  /** The run state, and the optimizer's step (null in weights-only files). */
  run: RunState & { optStep: number | null };
}

/** A checkpoint read from disk, not yet matched to a model. */
export interface LoadedCheckpoint {
  /** The file's metadata. */
  header: CheckpointHeader;
  /** Parameters shaped like `template`; errors name mismatched tensors. */
  params<P extends ParamTree>(template: P): P;
  /** Optimizer state shaped like `template`, or null if the file has none. */
  optimizer<P extends ParamTree>(template: P): AdamWState<P> | null;
}

/**
 * The `run` metadata as saved by {@linkcode saveCheckpoint}, checked for the
 * fields that resuming and exporting read, so a damaged header fails here
 * with the file's name instead of as a TypeError later.
 */
function parseRunState(json: string, path: string): CheckpointHeader["run"] {
  const fail = (why: string): never => {
    throw new Error(
      `${path}: the checkpoint's "run" metadata ${why}; the file is damaged or was not written by this project's training`,
    );
  };
  let run: unknown;
  try {
    run = JSON.parse(json);
  } catch (e) {
    return fail(`is not JSON (${(e as Error).message})`);
  }
  const isObject = (x: unknown): x is Record<string, unknown> =>
    typeof x === "object" && x !== null && !Array.isArray(x);
  const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!isObject(run)) return fail(`is ${JSON.stringify(run)}, not an object`);
  if (!isObject(run.config)) fail(`has no config object`);
  if (!isObject(run.rng)) fail(`has no rng state`);
  for (const key of ["epoch", "step"]) {
    if (!isCount(run[key])) fail(`has ${key} ${JSON.stringify(run[key])}, not a count`);
  }
  if (run.partial !== undefined) {
    const p = run.partial;
    if (!isObject(p) || !isObject(p.epochRng) || !isCount(p.step) || !isCount(p.seen)) {
      fail(`has a mid-epoch state ${JSON.stringify(p)} without its step, seen and epochRng`);
    }
  }
  if (run.optStep !== null && !isCount(run.optStep)) {
    fail(`has optStep ${JSON.stringify(run.optStep)}, neither a count nor null`);
  }
  return run as unknown as CheckpointHeader["run"];
}

/** Read a checkpoint file's header and its raw contents. */
export async function readCheckpoint(path: string): Promise<LoadedCheckpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(
      `Cannot read checkpoint "${path}": ${(e as Error).message}`,
    );
  }
  return parseCheckpoint(bytes, path);
}

/**
 * A checkpoint from its bytes (fetched in a browser, say); `path` names it
 * in errors. {@linkcode readCheckpoint} reads the file and calls this.
 *
 * @example
 * ```ts
 * import { checkpointModel, parseCheckpoint } from "@vision-attention/sa";
 * const bytes = await Deno.readFile("weights/vit-hour.safetensors");
 * const { spec, params } = checkpointModel(parseCheckpoint(bytes, "vit-hour.safetensors"));
 * console.assert(spec.kind === "vit" && spec.preset === "hour");
 * ```
 */
export function parseCheckpoint(bytes: Uint8Array, path: string): LoadedCheckpoint {
  const file = decodeSafetensors(bytes, path);
  const { model, preset, run } = file.metadata;
  if (!model || !preset || !run) {
    throw new Error(
      `${path}: no model/preset metadata; it was not written by this project's training`,
    );
  }
  const header: CheckpointHeader = { model, preset, run: parseRunState(run, path) };
  return {
    header,
    /** Parameters shaped like `template`. */
    params<P extends ParamTree>(template: P): P {
      return rawToTree(file, template, "", path, ["opt."]);
    },
    /** Optimizer state shaped like `template`, or null if the file has none. */
    optimizer<P extends ParamTree>(template: P): AdamWState<P> | null {
      if (header.run.optStep === null) return null;
      return {
        m: rawToTree(file, template, "opt.m.", path),
        v: rawToTree(file, template, "opt.v.", path),
        step: header.run.optStep,
      };
    },
  };
}

/**
 * The model a checkpoint names (its metadata's model and preset) and its
 * parameters from the file; the caller owns the returned tensors.
 */
export function checkpointModel(ckpt: LoadedCheckpoint): { spec: ModelSpec; params: ParamTree } {
  const spec = modelSpec(ckpt.header.model as ModelKind, ckpt.header.preset);
  const template = spec.init(new Rng(0));
  const params = ckpt.params(template);
  disposeTree(template);
  return { spec, params };
}

/** Options of {@linkcode saveModel}. */
export interface SaveModelOptions {
  /** How the model was trained, recorded in the file (default: its preset's config). */
  config?: TrainConfig;
  /**
   * Training images to recalibrate a batch-norm model's statistics on, when
   * `params` came out of training steps (as `evaluate` takes them); such
   * parameters are refused without it, since the file would hold statistics
   * that do not belong to its weights.
   */
  calibrateOn?: ImageSet;
}

/**
 * Save `params` of the preset model `spec` as a weights-only checkpoint that
 * `deno task eval`, `checkpointModel` and `loadPretrained`'s parser read:
 * the model and preset in its metadata, no optimizer state.
 */
export async function saveModel(
  path: string,
  spec: ModelSpec,
  params: ParamTree,
  options: SaveModelOptions = {},
): Promise<void> {
  const run: RunState = {
    config: options.config ?? resolveConfig(spec.kind, { preset: spec.preset }),
    epoch: 0,
    step: 0,
    rng: new Rng(0).state,
    bestTestAccuracy: 0,
    trainSeconds: 0,
  };
  await withCurrentStatistics(
    "saveModel",
    spec,
    params,
    options.calibrateOn,
    (current) => saveCheckpoint(path, current, null, run),
  );
}
