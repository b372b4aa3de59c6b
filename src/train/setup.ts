/**
 * Everything a run needs before its first step, for a new run and a resumed
 * one: the config (resolved once, in `config.ts`), the backend and threads,
 * the data, the checks on the settings, then — only once every check has
 * passed — the run folder's writes and the parameters and optimizer state.
 *
 * @module
 */
import { join } from "node:path";
import { type BackendInfo, selectBackend } from "../backend/select.ts";
import { disposeTree, type ParamTree, splitBuffers } from "../core/params.ts";
import { Rng } from "../core/rng.ts";
import { ATOMIC_TEMP, removeStaleFiles } from "../core/stale_files.ts";
import { writeFileAtomic } from "../core/safetensors.ts";
import { type ImageSet, loadCifar10 } from "../data/cifar.ts";
import { type ModelKind, type ModelSpec, modelSpec } from "../models/presets.ts";
import { type AdamWState, initAdamW } from "./adamw.ts";
import { type LoadedCheckpoint, readCheckpoint, type RunState } from "./checkpoint.ts";
import {
  dataDir,
  isCpuBackend,
  microBatchesFor,
  resolveThreads,
  type ResumeChanges,
  resumedConfig,
  type TrainConfig,
} from "./config.ts";
import { RunConfigError, RunInterruptedError } from "./errors.ts";
import { GradientWorkers } from "./gradient_workers.ts";
import { lockRun } from "./run_lock.ts";
import { claimRunFolder, reconcileMetrics, refuseTakenFolder } from "./run_folder.ts";

/** Something to release when the run ends (gradient workers, run locks), in reverse order. */
export interface Held {
  release(): unknown;
}

/** What the setup of a run needs to know besides the config. */
export interface SetupOptions {
  /** A new run whose `config.out` exists goes to `OUT-2`, `OUT-3`, ... instead of being refused. */
  uniqueOut?: boolean;
  /** The caller holds the run folder's lock (as `compare` does). */
  lockHeld?: boolean;
  /** Silence the backend line and notes. */
  quiet?: boolean;
  /** Already aborted: refuse to start, having written nothing. */
  signal?: AbortSignal;
  /** A resumed run must be of this model (the task that resumes it trains one kind). */
  model?: ModelKind;
}

/** A run ready for its first (or next) step. */
export interface PreparedRun {
  /** The run's settings, as saved in its folder. */
  config: TrainConfig;
  /** The model. */
  spec: ModelSpec;
  /** Training and test images. */
  data: { train: ImageSet; test: ImageSet };
  /** The backend chosen. */
  backend: BackendInfo;
  /** Micro-batches per step. */
  microBatches: number;
  /** Gradient workers beside the main thread, if the run has more than one thread. */
  workers?: GradientWorkers;
  /** Parameters, buffers included. */
  params: ParamTree;
  /** AdamW's state over the trainable leaves. */
  state: AdamWState<ParamTree>;
  /** Where the run stands (a new run: nowhere yet). */
  run: RunState;
  /** The run's generator, at `run.rng`. */
  rng: Rng;
  /** The run folder. */
  out: string;
  /** Steps of one epoch. */
  stepsPerEpoch: number;
}

/** What a run computes with: backend, threads, model, data, with every check on them. */
async function compute(config: TrainConfig, options: SetupOptions, held: Held[]) {
  const backend = await selectBackend(config.backend, options.quiet);
  const threads = resolveThreads(config, backend.name);
  // Saved as a number, so a resume splits its steps the same way.
  if (config.threads !== undefined || threads > 1) config = { ...config, threads };
  const spec = modelSpec(config.model, config.preset);
  const data = await loadCifar10(dataDir(config.data), {
    trainSize: config.trainSize,
    testSize: config.testSize,
  });
  const stepsPerEpoch = Math.floor(data.train.size / config.batchSize);
  if (stepsPerEpoch < 1) {
    throw new RunConfigError(
      `--batch-size ${config.batchSize} is larger than the ${data.train.size} training images, ` +
        `so an epoch would have no step; use a --batch-size of at most ${data.train.size}` +
        (config.trainSize !== undefined ? " or a larger --train-size" : ""),
    );
  }
  const microBatches = microBatchesFor(config, threads);
  if (config.batchSize % microBatches !== 0) {
    throw new RunConfigError(
      `--batch-size ${config.batchSize} does not split into ${microBatches} equal micro-batches ` +
        `(${config.microBatches ?? 1} per step, a multiple of ${threads} training threads); ` +
        `use a batch size divisible by ${microBatches} or fewer --threads`,
    );
  }
  // Before anything is written: workers that fail to start leave nothing behind.
  let workers: GradientWorkers | undefined;
  if (threads > 1 && isCpuBackend(backend.name)) {
    const started = await GradientWorkers.start(spec, threads - 1, backend.name);
    held.push({ release: () => started.close() });
    workers = started;
    if (spec.calibrate && !options.quiet) {
      console.error(
        `threads: ${threads}; batch norm normalizes each micro-batch of ` +
          `${config.batchSize / microBatches} images (--threads 1 for whole-batch statistics)`,
      );
    }
  }
  if (options.signal?.aborted) {
    throw new RunInterruptedError(
      config.out,
      "stopped before training started; nothing was written",
    );
  }
  return { config, backend, spec, data, stepsPerEpoch, microBatches, workers };
}

const render = (c: TrainConfig) => JSON.stringify(c, null, 2) + "\n";

/** Set up a new run of `config`: claims its folder (and locks it) once every check has passed. */
export async function prepareNewRun(
  config: TrainConfig,
  options: SetupOptions,
  held: Held[],
): Promise<PreparedRun> {
  if (config.out.trim() === "") {
    throw new RunConfigError(
      "The run needs a folder of its own: --out (config.out) is empty; name a new folder",
    );
  }
  if (!options.uniqueOut) await refuseTakenFolder(config.out); // before slow setup
  const c = await compute(config, options, held);
  const out = await claimRunFolder(c.config.out, (o) => render({ ...c.config, out: o }), {
    unique: options.uniqueOut,
  });
  if (!options.lockHeld || out !== c.config.out) held.push(await lockRun(out));
  await removeStaleFiles(out, ATOMIC_TEMP, { folderLocked: true });
  const rng = new Rng(c.config.seed);
  const params = c.spec.init(rng.fork());
  const run: RunState = {
    config: { ...c.config, out },
    epoch: 0,
    step: 0,
    rng: rng.state,
    bestTestAccuracy: 0,
    trainSeconds: 0,
  };
  return {
    ...c,
    config: run.config,
    params,
    state: initAdamW(splitBuffers(params).trainable),
    run,
    rng,
    out,
  };
}

/**
 * The checkpoint of the run in `dir`, refused with a message that says what
 * to do when there is none to continue from.
 */
async function resumableCheckpoint(
  dir: string,
  options: SetupOptions,
  held: Held[],
): Promise<LoadedCheckpoint> {
  const info = await Deno.stat(dir).catch((e) => {
    if (e instanceof Deno.errors.NotFound) throw new RunConfigError(`${dir}: no such folder`);
    throw e;
  });
  if (!info.isDirectory) {
    throw new RunConfigError(
      `${dir} is a file, not a run folder: resume takes the folder a run wrote (the one holding ` +
        `its config.json and checkpoint.safetensors)`,
    );
  }
  if (!options.lockHeld) held.push(await lockRun(dir)); // before anything reads the run
  const path = join(dir, "checkpoint.safetensors");
  try {
    await Deno.stat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new RunConfigError(
      `${dir}: the folder has no checkpoint.safetensors to continue from (a run writes its ` +
        `first after its first epoch or its first mid-epoch save); start the run again instead`,
    );
  }
  const ckpt = await readCheckpoint(path);
  const model = options.model;
  if (model && ckpt.header.model !== model) {
    throw new RunConfigError(
      `${dir}: it holds a ${ckpt.header.model} run, not a ${model} run; resume it with ` +
        `"deno task train:${ckpt.header.model} --resume ${dir}"`,
    );
  }
  if (ckpt.header.run.optStep === null) {
    throw new RunConfigError(
      `${dir}: the checkpoint has no optimizer state (a weights-only export), ` +
        `so the run cannot resume; start a new run instead`,
    );
  }
  return ckpt;
}

/**
 * Set up the run in `dir` to continue from its checkpoint, with `changes`
 * applied to its saved config. The folder is locked first and written only
 * after every check, loading the checkpoint's tensors included, has passed:
 * a refused resume changes nothing in it.
 */
export async function prepareResumedRun(
  dir: string,
  changes: ResumeChanges,
  options: SetupOptions,
  held: Held[],
): Promise<PreparedRun> {
  const ckpt = await resumableCheckpoint(dir, options, held);
  const saved = ckpt.header.run;
  const config = resumedConfig(saved.config, changes, dir);
  if (saved.partial && config.epochs <= saved.epoch) {
    const next = saved.epoch + 1;
    throw new RunConfigError(
      `${dir}: the checkpoint is in the middle of epoch ${next} (step ` +
        `${saved.partial.step}); resume with --epochs ${next} or more to finish it`,
    );
  }
  const c = await compute(config, options, held);
  const template = c.spec.init(new Rng(c.config.seed).fork());
  let params: ParamTree | undefined, state: AdamWState<ParamTree> | undefined;
  try {
    params = ckpt.params(template);
    state = ckpt.optimizer(splitBuffers(template).trainable)!; // optStep checked above
    // Every check has passed: now the folder is brought in line with the checkpoint.
    await removeStaleFiles(dir, ATOMIC_TEMP, { folderLocked: true });
    await writeFileAtomic(join(dir, "config.json"), render(c.config));
    const run: RunState = { ...saved, config: c.config }; // later checkpoints carry the changes
    const fixed = await reconcileMetrics(join(dir, "metrics.jsonl"), run.epoch, run.metrics);
    if (fixed && !options.quiet) console.error(`resume: ${join(dir, "metrics.jsonl")}: ${fixed}`);
    return { ...c, params, state, run, rng: Rng.fromState(run.rng), out: dir };
  } catch (e) {
    // Nothing will train with them: give the loaded tensors back.
    [params, state?.m, state?.v].forEach((t) => t && disposeTree(t));
    throw e;
  } finally {
    disposeTree(template);
  }
}
