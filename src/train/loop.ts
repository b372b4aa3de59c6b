/**
 * The training loop, top to bottom: data, model, optimizer, then epochs of
 * explicit-gradient steps, each followed by a test evaluation, a metrics
 * line and an atomic checkpoint. Stops cleanly at the epoch count or the
 * time budget; a non-finite loss stops it and keeps the last good checkpoint.
 * A new run claims a folder of its own; a resumed one first brings its
 * folder back in line with its checkpoint.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { selectBackend } from "../backend/select.ts";
import { countParams, disposeTree, type ParamTree, splitBuffers } from "../core/params.ts";
import { Rng } from "../core/rng.ts";
import { writeFileAtomic } from "../core/safetensors.ts";
import { brand } from "../core/tensor.ts";
import { fillBatch } from "../data/batches.ts";
import { type ImageSet, loadCifar10 } from "../data/cifar.ts";
import { modelSpec } from "../models/presets.ts";
import { Progress } from "../cli/progress.ts";
import { type AdamWConfig, type AdamWState, initAdamW } from "./adamw.ts";
import { ATOMIC_TEMP, removeStaleFiles } from "../core/stale_files.ts";
import {
  type PartialEpoch,
  readCheckpoint,
  RunInterruptedError,
  type RunState,
  saveCheckpoint,
} from "./checkpoint.ts";
import {
  dataDir,
  isCpuBackend,
  microBatchesFor,
  optimizerOf,
  resolveThreads,
  scheduleOf,
  type TrainConfig,
} from "./config.ts";
import { GradientWorkers } from "./gradient_workers.ts";
import {
  calibrate,
  evaluate,
  EvaluationStopped,
  type TestTimeAugmentation,
  ttaMode,
} from "./evaluate.ts";
import { nextMacrotask } from "../core/event_loop.ts";
import { lockRun, RunLockedError } from "./run_lock.ts";
import {
  claimRunFolder,
  reconcileMetrics,
  refuseTakenFolder,
  RunConfigError,
} from "./run_folder.ts";
import { learningRate, type ScheduleConfig } from "./schedule.ts";
import { trainStep } from "./step.ts";

export { RunInterruptedError, RunLockedError };

/** One line of `metrics.jsonl`. */
export interface EpochMetrics {
  /** The epoch just finished (1-based). */
  epoch: number;
  /** Steps so far. */
  step: number;
  /** Mean training loss over the epoch. */
  trainLoss: number;
  /** Training accuracy over the epoch (augmented images). */
  trainAccuracy: number;
  /** Test accuracy after the epoch (one view). */
  testAccuracy: number;
  /** Per-class test accuracy after the epoch. */
  perClassAccuracy: number[];
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Training seconds so far (evaluation excluded). */
  trainSeconds: number;
  /** Training throughput of the epoch. */
  imagesPerSecond: number;
}

/** `summary.json`. */
export interface TrainSummary {
  /** Which model. */
  model: string;
  /** Its preset. */
  preset: string;
  /** Parameter count. */
  params: number;
  /** Forward FLOPs per image. */
  flopsPerImage: number;
  /** Epochs finished. */
  epochs: number;
  /** Steps taken. */
  steps: number;
  /** Training images. */
  trainImages: number;
  /** Test images. */
  testImages: number;
  /** Training seconds (evaluation excluded). */
  trainSeconds: number;
  /** Training throughput over the run. */
  imagesPerSecond: number;
  /** Final test accuracy, with the test-time augmentation `tta` names. */
  testAccuracy: number;
  /** The views `testAccuracy` averaged. */
  tta: TestTimeAugmentation;
  /** Final test accuracy without test-time augmentation. */
  testAccuracyPlain: number;
  /** Best test accuracy from one view: per epoch, or the final one-view evaluation. */
  bestTestAccuracy: number;
  /** Per-class final test accuracy. */
  perClassAccuracy: number[];
  /** Final confusion counts `[label][predicted]`. */
  confusion: number[][];
  /** The backend used (`webgpu`, `fast`, `wasm`, `cpu`). */
  backend: string;
  /** The backend line printed at the start. */
  backendDescription: string;
  /** Whether the epoch count or the time budget ended training. */
  stoppedBy: "epochs" | "minutes";
  /** The run folder. */
  out: string;
}

/**
 * The wasm backend's only word when its heap (capped at 4 GiB) cannot grow
 * is "Aborted()"; say what that means and what to do.
 */
function explainAbort(e: unknown, batchSize: number): unknown {
  if (!(e instanceof Error) || !e.message.startsWith("Aborted(")) return e;
  return new Error(
    `The wasm backend aborted during a training step at batch ${batchSize}, most likely out of ` +
      `memory (its heap is capped at 4 GiB and a step keeps every activation for the gradients); ` +
      `try --batch-size ${Math.max(1, Math.floor(batchSize / 2))}`,
  );
}

/** Raised when the loss stops being finite. */
export class NonFiniteLossError extends Error {}

export { RunConfigError };

/**
 * What may change when a run resumes besides the backend (`config.backend`,
 * a property of the machine): how long it trains and where its data now
 * lives. Everything else defines the run and stays.
 */
export type ResumeChanges = Partial<Pick<TrainConfig, "epochs" | "minutes" | "data">>;

/** Options besides the config. */
export interface TrainOptions {
  /**
   * Continue the run in this folder from its checkpoint. The saved config
   * replaces `config`, all but its backend, with `resumeWith` applied.
   */
  resume?: string;
  /** Settings that change on resume; saved into `config.json` and the next checkpoints. */
  resumeWith?: ResumeChanges;
  /**
   * A new run whose `config.out` exists goes to `OUT-2`, `OUT-3`, ... rather
   * than being refused (for default, timestamped folders).
   */
  uniqueOut?: boolean;
  /** Silence progress (tests). */
  quiet?: boolean;
  /** Stop after this epoch as if interrupted, leaving the run resumable (tests). */
  stopAfterEpoch?: number;
  /**
   * Stop after this step (counted over the whole run) as if interrupted,
   * leaving a mid-epoch checkpoint (tests).
   */
  stopAfterStep?: number;
  /**
   * Once aborted (Ctrl-C, say), training stops after the step under way,
   * saves a checkpoint there and throws {@linkcode RunInterruptedError}.
   */
  signal?: AbortSignal;
  /**
   * Also save a checkpoint mid-epoch once this many minutes have passed since
   * the last one, so a run killed without warning loses at most that much
   * (default {@linkcode DEFAULT_CHECKPOINT_MINUTES}; 0: after every step).
   */
  checkpointMinutes?: number;
  /**
   * The caller holds the run folder's lock ({@linkcode lockRun}) and keeps
   * it until train returns, as `compare` does; train does not take it again.
   */
  lockHeld?: boolean;
}

/** How often, by default, a long epoch also saves a checkpoint mid-way. */
export const DEFAULT_CHECKPOINT_MINUTES = 10;

/** What one epoch needs besides the parameters and optimizer state. */
interface EpochContext {
  spec: ReturnType<typeof modelSpec>;
  config: TrainConfig;
  data: ImageSet;
  schedule: ScheduleConfig;
  optimizer: AdamWConfig;
  rng: Rng;
  /** Updated in place: `step` advances; `epoch` is the last finished one. */
  run: RunState;
  progress: Progress;
  budgetSeconds: number;
  /** Duration of the previous step (any epoch), to stop before overrunning the budget. */
  lastStepSeconds: number;
  ckpt: string;
  /** Micro-batches per step (see {@linkcode microBatchesFor}). */
  microBatches: number;
  /** Gradient workers beside the main thread, if the run has more than one thread. */
  workers?: GradientWorkers;
  /** Seconds between mid-epoch checkpoints. */
  checkpointSeconds: number;
  /** Whether to stop after the step just taken (signal, or a test's stopAfterStep). */
  stopRequested(): boolean;
}

/**
 * One pass over the training set in a shuffled order (or until the time
 * budget ends): a batch, a learning rate, an explicit-gradient step, progress.
 * A run resumed mid-epoch (`run.partial`) regenerates the epoch's order from
 * the generator state the epoch began with and carries on at its next step,
 * so the steps are the ones an uninterrupted run takes.
 */
async function trainEpoch<P extends ParamTree>(
  ctx: EpochContext,
  params: P,
  state: AdamWState<ParamTree>,
) {
  const { config, run, schedule } = ctx;
  const epoch = run.epoch + 1, stepsPerEpoch = Math.floor(ctx.data.size / config.batchSize);
  const partial = run.partial;
  const epochRng = partial?.epochRng ?? ctx.rng.state;
  // A resumed epoch's generator (ctx.rng) is already past this permutation.
  const order = (partial ? Rng.fromState(partial.epochRng) : ctx.rng).permutation(ctx.data.size);
  const images = new Float32Array(config.batchSize * 3072),
    labels = new Int32Array(config.batchSize);
  let lossSum = partial?.lossSum ?? 0, correct = partial?.correct ?? 0, seen = partial?.seen ?? 0;
  let lr = partial?.lr ?? 0, outOfTime = false;
  let lastStepSeconds = ctx.lastStepSeconds;
  const start = performance.now(), before = partial?.seconds ?? 0;
  let lastSave = start, saving = 0; // milliseconds spent saving: not training time
  const seconds = () => before + (performance.now() - start - saving) / 1000;
  for (let s = partial?.step ?? 0; s < stepsPerEpoch; s++) {
    const spent = run.trainSeconds + seconds();
    // Stop before a step that would end past the budget, not after it, so
    // trainSeconds never exceeds --minutes.
    if (spent + lastStepSeconds >= ctx.budgetSeconds) {
      outOfTime = true;
      break;
    }
    const batchOrder = order.subarray(s * config.batchSize, (s + 1) * config.batchSize);
    fillBatch(ctx.data, batchOrder, images, labels, config.augment ? ctx.rng : null);
    const batch = {
      images: brand(tf.tensor4d(images, [config.batchSize, 32, 32, 3]), [
        "batch",
        "height",
        "width",
        "channels",
      ]),
      labels: tf.tensor1d(labels, "int32"),
    };
    // Under a time budget the schedule follows elapsed time, so the cosine
    // reaches its floor when the budget ends rather than at --epochs.
    const timeStep = Number.isFinite(ctx.budgetSeconds)
      ? Math.floor((spent / ctx.budgetSeconds) * schedule.totalSteps)
      : 0;
    lr = learningRate(schedule, Math.max(run.step, timeStep));
    const stepConfig = {
      lr,
      labelSmoothing: config.labelSmoothing,
      optimizer: ctx.optimizer,
      microBatches: ctx.microBatches,
      workers: ctx.workers,
    };
    const stepStart = performance.now();
    const r = await trainStep(ctx.spec.apply, params, state, batch, stepConfig, ctx.rng)
      .catch((e) => Promise.reject(explainAbort(e, config.batchSize)));
    lastStepSeconds = (performance.now() - stepStart) / 1000;
    tf.dispose([batch.images, batch.labels]);
    params = r.params;
    state = r.state;
    if (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm)) {
      ctx.progress.done();
      const kept = run.epoch > 0 || run.partial
        ? `The last good checkpoint, from ${
          checkpointPlace(run, stepsPerEpoch)
        }, is kept in ${ctx.ckpt}.`
        : "No checkpoint was written.";
      const what = Number.isFinite(r.loss)
        ? `The gradient norm became ${r.gradNorm} (the update would make the weights ${r.gradNorm})`
        : `The loss became ${r.loss}`;
      throw new NonFiniteLossError(
        `${what} at epoch ${epoch}, step ${s + 1} (lr ${lr.toExponential(2)}); ` +
          `training stopped. ${kept} Try a lower --lr.`,
      );
    }
    run.step++;
    lossSum += r.loss * config.batchSize;
    correct += r.correct;
    seen += config.batchSize;
    const elapsed = seconds(), ips = seen / elapsed;
    const remaining = (config.epochs - epoch) * stepsPerEpoch + (stepsPerEpoch - s - 1);
    ctx.progress.update({
      epoch,
      epochs: config.epochs,
      step: s + 1,
      stepsPerEpoch,
      loss: lossSum / seen,
      accuracy: correct / seen,
      imagesPerSecond: ips,
      etaSeconds: Math.min(
        (remaining * config.batchSize) / ips,
        ctx.budgetSeconds - run.trainSeconds - elapsed,
      ),
    });
    await nextMacrotask(); // signal listeners run here (see nextMacrotask)
    const stop = ctx.stopRequested();
    if (stop || performance.now() - lastSave >= ctx.checkpointSeconds * 1000) {
      // Not after the epoch's last step (the epoch's own checkpoint follows at
      // once) unless training must stop now, before the evaluation.
      if (s + 1 < stepsPerEpoch || stop) {
        const at = { step: s + 1, epochRng, lossSum, correct, seen, lr, seconds: seconds() };
        const t = performance.now();
        params = await savePartial(ctx, params, state, at, lastStepSeconds);
        lastSave = performance.now();
        saving += lastSave - t;
      }
      if (stop) {
        ctx.progress.done();
        throw new RunInterruptedError(
          config.out,
          `training stopped at epoch ${epoch}, step ${s + 1} of ${stepsPerEpoch}; ` +
            `the checkpoint in ${ctx.ckpt} resumes there`,
        );
      }
    }
  }
  ctx.progress.done();
  run.partial = undefined; // the epoch's end is saved next, with its evaluation
  const end: PartialEpoch = {
    step: Math.floor(seen / config.batchSize),
    epochRng,
    lossSum,
    correct,
    seen,
    lr,
    seconds: seconds(),
  };
  return {
    end,
    params,
    state,
    lossSum,
    correct,
    seen,
    lr,
    outOfTime,
    lastStepSeconds,
    seconds: seconds(),
  };
}

/**
 * Save a mid-epoch checkpoint at `at`. Batch-norm statistics are first
 * recalibrated to the weights (training never reads them, so the steps are
 * unchanged), so that evaluating or exporting this checkpoint sees the model
 * it holds. Returns the parameters with the new statistics.
 */
async function savePartial<P extends ParamTree>(
  ctx: EpochContext,
  params: P,
  state: AdamWState<ParamTree>,
  at: PartialEpoch,
  lastStepSeconds: number,
): Promise<P> {
  params = calibrate(ctx.spec, params, ctx.data);
  ctx.run.partial = at;
  ctx.run.rng = ctx.rng.state;
  ctx.run.lastStepSeconds = lastStepSeconds;
  await saveCheckpoint(ctx.ckpt, params, state, ctx.run);
  return params;
}

/** Where a checkpoint stands, in words: "epoch 3" or "epoch 4, step 120 of 195". */
function checkpointPlace(run: RunState, stepsPerEpoch: number): string {
  return run.partial
    ? `epoch ${run.epoch + 1}, step ${run.partial.step} of ${stepsPerEpoch}`
    : `epoch ${run.epoch}`;
}

/**
 * Train a model as `config` says; returns the summary it also writes. The
 * run folder is locked while it trains ({@linkcode lockRun}): resuming a run
 * that another live process is training throws {@linkcode RunLockedError}.
 */
export async function train(
  config: TrainConfig,
  options: TrainOptions = {},
): Promise<TrainSummary> {
  // Released in reverse order of taking: gradient workers, then run locks.
  const held: { release(): unknown }[] = [];
  try {
    return await trainLocked(config, options, held);
  } finally {
    for (const h of held.reverse()) await h.release();
  }
}

async function trainLocked(
  config: TrainConfig,
  options: TrainOptions,
  held: { release(): unknown }[],
): Promise<TrainSummary> {
  let resumed: Awaited<ReturnType<typeof readCheckpoint>> | null = null;
  if (options.resume) {
    // Before anything reads or writes the run.
    if (!options.lockHeld) held.push(await lockRun(options.resume));
    resumed = await readCheckpoint(
      join(options.resume, "checkpoint.safetensors"),
    );
    if (resumed.header.run.optStep === null) {
      throw new RunConfigError(
        `${options.resume}: the checkpoint has no optimizer state (a weights-only export), ` +
          `so the run cannot resume; start a new run instead`,
      );
    }
    const saved = resumed.header.run.config;
    config = {
      ...saved,
      ...options.resumeWith,
      backend: config.backend,
      out: options.resume, // where the run is now, if its folder was moved
      tta: ttaMode(saved.tta),
    };
  }
  const partial = resumed?.header.run.partial;
  if (resumed && partial && config.epochs <= resumed.header.run.epoch) {
    const next = resumed.header.run.epoch + 1;
    throw new RunConfigError(
      `${options.resume}: the checkpoint is in the middle of epoch ${next} (step ` +
        `${partial.step}); resume with --epochs ${next} or more to finish it`,
    );
  }
  if (!resumed && !options.uniqueOut) await refuseTakenFolder(config.out); // before slow setup
  const backend = await selectBackend(config.backend, options.quiet);
  const threads = resolveThreads(config, backend.name);
  // Saved as a number, so a resume splits its steps the same way.
  if (config.threads !== undefined || threads > 1) config = { ...config, threads };
  const spec = modelSpec(config.model, config.preset);
  const data = await loadCifar10(dataDir(config.data), {
    trainSize: config.trainSize,
    testSize: config.testSize,
  });
  // Every check on the settings comes before anything is written, so a
  // refused run leaves no folder behind.
  const stepsPerEpoch = Math.floor(data.train.size / config.batchSize);
  if (stepsPerEpoch < 1) {
    throw new RunConfigError(
      `--batch-size ${config.batchSize} is larger than the ${data.train.size} training images, ` +
        `so an epoch would have no step; use a --batch-size of at most ${data.train.size}` +
        (config.trainSize !== undefined ? " or a larger --train-size" : ""),
    );
  }
  const parts = microBatchesFor(config, threads);
  if (config.batchSize % parts !== 0) {
    throw new RunConfigError(
      `--batch-size ${config.batchSize} does not split into ${parts} equal micro-batches ` +
        `(${config.microBatches ?? 1} per step, a multiple of ${threads} training threads); ` +
        `use a batch size divisible by ${parts} or fewer --threads`,
    );
  }
  // Before the run folder is claimed: workers that fail to start leave nothing behind.
  let workers: GradientWorkers | undefined;
  if (threads > 1 && isCpuBackend(backend.name)) {
    workers = await GradientWorkers.start(spec, threads - 1, backend.name);
    held.push({ release: () => workers!.close() });
    if (spec.calibrate && !options.quiet) {
      console.error(
        `threads: ${threads}; batch norm normalizes each micro-batch of ` +
          `${config.batchSize / parts} images (--threads 1 for whole-batch statistics)`,
      );
    }
  }
  if (options.signal?.aborted) {
    throw new RunInterruptedError(
      config.out,
      "stopped before training started; nothing was written",
    );
  }
  const render = (c: TrainConfig) => JSON.stringify(c, null, 2) + "\n";
  let out = config.out;
  if (resumed) {
    await removeStaleFiles(out, ATOMIC_TEMP);
    await writeFileAtomic(join(out, "config.json"), render(config)); // with resumeWith applied
  } else {
    out = await claimRunFolder(out, (o) => render({ ...config, out: o }), {
      unique: options.uniqueOut,
    });
    if (!options.lockHeld || out !== config.out) held.push(await lockRun(out));
    config = { ...config, out };
    await removeStaleFiles(out, ATOMIC_TEMP);
  }

  const schedule = scheduleOf(config, stepsPerEpoch);
  const optimizer = optimizerOf(config);

  let rng = new Rng(config.seed);
  let params: ParamTree = spec.init(rng.fork());
  let state = initAdamW(splitBuffers(params).trainable);
  let run: RunState = {
    config,
    epoch: 0,
    step: 0,
    rng: rng.state,
    bestTestAccuracy: 0,
    trainSeconds: 0,
  };
  if (resumed) {
    const template = params;
    params = resumed.params(template);
    const opt = resumed.optimizer(splitBuffers(template).trainable)!; // checked above
    disposeTree(state.m);
    disposeTree(state.v);
    state = opt;
    disposeTree(template);
    run = { ...resumed.header.run, config }; // later checkpoints carry the changed settings
    rng = Rng.fromState(run.rng);
  }
  const ckpt = join(out, "checkpoint.safetensors"),
    metricsFile = join(out, "metrics.jsonl");
  if (resumed) {
    const fixed = await reconcileMetrics(metricsFile, run.epoch, run.metrics);
    if (fixed && !options.quiet) console.error(`resume: ${metricsFile}: ${fixed}`);
  }
  const progress = new Progress({ silent: options.quiet });
  const budgetSeconds = config.minutes > 0 ? config.minutes * 60 : Infinity;
  let stoppedBy: TrainSummary["stoppedBy"] = "epochs";
  let last = null as Awaited<ReturnType<typeof evaluate>> | null;
  // A fresh run cannot know what a step costs until one has run, so its
  // first step always runs, even past the budget (reported below); a
  // resumed one knows from its checkpoint.
  let lastStepSeconds = run.lastStepSeconds ?? 0;

  const signal = options.signal;
  const stopRequested = () => signal?.aborted === true || run.step === options.stopAfterStep;
  while (
    run.epoch < config.epochs && stoppedBy === "epochs" && run.epoch !== options.stopAfterEpoch
  ) {
    const epoch = run.epoch + 1;
    const ctx: EpochContext = {
      spec,
      config,
      data: data.train,
      schedule,
      optimizer,
      rng,
      run,
      progress,
      budgetSeconds,
      lastStepSeconds,
      ckpt,
      microBatches: parts,
      workers,
      checkpointSeconds: 60 * (options.checkpointMinutes ?? DEFAULT_CHECKPOINT_MINUTES),
      stopRequested,
    };
    const e = await trainEpoch(ctx, params, state);
    params = e.params;
    state = e.state;
    lastStepSeconds = e.lastStepSeconds;
    if (e.outOfTime) stoppedBy = "minutes";
    const { lossSum, correct, seen, lr } = e;
    if (seen === 0) break;
    const epochSeconds = e.seconds; // training only, before evaluation
    params = calibrate(spec, params, data.train);
    try {
      last = await evaluate(spec.apply, params, data.test, { shouldStop: stopRequested });
    } catch (err) {
      if (!(err instanceof EvaluationStopped)) throw err;
      // Keep the epoch's steps: a mid-epoch checkpoint at its end, evaluated on resume.
      params = await savePartial(ctx, params, state, e.end, lastStepSeconds);
      throw new RunInterruptedError(
        out,
        `training stopped after epoch ${epoch}'s steps, before its evaluation; the checkpoint ` +
          `in ${ckpt} resumes with the evaluation`,
      );
    }
    run.trainSeconds += epochSeconds;
    run.epoch = epoch;
    run.rng = rng.state;
    run.bestTestAccuracy = Math.max(run.bestTestAccuracy, last.accuracy);
    const metrics: EpochMetrics = {
      epoch,
      step: run.step,
      trainLoss: lossSum / seen,
      trainAccuracy: correct / seen,
      testAccuracy: last.accuracy,
      perClassAccuracy: last.perClassAccuracy,
      lr,
      trainSeconds: run.trainSeconds,
      imagesPerSecond: seen / epochSeconds,
    };
    run.metrics = metrics;
    run.lastStepSeconds = lastStepSeconds;
    // Checkpoint first, then its metrics line: a kill between the two loses
    // no line, since the checkpoint holds it and a resume restores it.
    await saveCheckpoint(ckpt, params, state, run);
    await Deno.writeTextFile(metricsFile, JSON.stringify(metrics) + "\n", {
      append: true,
    });
    if (!options.quiet) {
      console.error(
        `epoch ${epoch}: train loss ${metrics.trainLoss.toFixed(4)}, train acc ${
          (100 * metrics.trainAccuracy).toFixed(2)
        }%, ` +
          `test acc ${(100 * last.accuracy).toFixed(2)}% (best ${
            (100 * run.bestTestAccuracy).toFixed(2)
          }%)`,
      );
    }
    if (stopRequested() && run.epoch < config.epochs && stoppedBy === "epochs") {
      throw new RunInterruptedError(
        out,
        `training stopped after epoch ${epoch}; the checkpoint in ${ckpt} resumes there`,
      );
    }
  }
  if (run.trainSeconds > budgetSeconds && !options.quiet) {
    console.error(
      `note: training took ${run.trainSeconds.toFixed(2)} s, past the --minutes budget of ` +
        `${budgetSeconds.toFixed(2)} s. Whether a step fits is judged by the step before it, so ` +
        `the first step (of a run, or of a resume from an older checkpoint) always runs, even ` +
        `when the budget is shorter than one step (the last took ${lastStepSeconds.toFixed(2)} s).`,
    );
  }
  // The final evaluation stops on request too; the last checkpoint already
  // holds every epoch, so a resume only evaluates.
  const finalEval = async (tta?: TestTimeAugmentation) => {
    try {
      return await evaluate(spec.apply, params, data.test, { tta, shouldStop: stopRequested });
    } catch (err) {
      if (!(err instanceof EvaluationStopped)) throw err;
      throw new RunInterruptedError(
        out,
        `stopped before the final evaluation; the checkpoint in ${ckpt} holds all ` +
          `${run.epoch} epochs and a resume evaluates them`,
      );
    }
  };
  if (!last) {
    params = calibrate(spec, params, data.train);
    last = await finalEval();
  }
  const plain = last;
  if (config.tta !== "none") last = await finalEval(config.tta);
  const summary: TrainSummary = {
    model: config.model,
    preset: config.preset,
    params: countParams(params),
    flopsPerImage: spec.flops,
    epochs: run.epoch,
    steps: run.step,
    trainImages: data.train.size,
    testImages: data.test.size,
    trainSeconds: run.trainSeconds,
    imagesPerSecond: (run.step * config.batchSize) /
      Math.max(run.trainSeconds, 1e-9),
    testAccuracy: last.accuracy,
    tta: config.tta,
    testAccuracyPlain: plain.accuracy,
    // One-view accuracies only, as the field says: `last` may average views.
    bestTestAccuracy: Math.max(run.bestTestAccuracy, plain.accuracy),
    perClassAccuracy: last.perClassAccuracy,
    confusion: last.confusion,
    backend: backend.name,
    backendDescription: backend.description,
    stoppedBy,
    out,
  };
  await writeFileAtomic(
    join(out, "summary.json"),
    JSON.stringify(summary, null, 2) + "\n",
  );
  [params, state.m, state.v].forEach(disposeTree);
  return summary;
}
