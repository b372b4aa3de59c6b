/**
 * The training loop, top to bottom: prepare (config, backend, data, folder,
 * parameters; `setup.ts`), then epochs of explicit-gradient steps
 * (`epoch.ts`), each followed by a test evaluation, an atomic checkpoint and
 * a metrics line, then the final evaluation and `summary.json`. Stops
 * cleanly at the epoch count or the time budget; a non-finite loss stops it
 * and keeps the last good checkpoint.
 *
 * @module
 */
import { join } from "node:path";
import { countParams, disposeTree } from "../core/params.ts";
import { Progress } from "../cli/progress.ts";
import { type RunState, saveCheckpoint } from "./checkpoint.ts";
import { optimizerOf, type ResumeChanges, scheduleOf, type TrainConfig } from "./config.ts";
import { type EpochContext, savePartial, trainEpoch } from "./epoch.ts";
import { NonFiniteLossError, RunConfigError, RunInterruptedError } from "./errors.ts";
import {
  calibrate,
  type EvalResult,
  evaluate,
  EvaluationStopped,
  type TestTimeAugmentation,
} from "./evaluate.ts";
import type { EpochMetrics, TrainSummary } from "./records.ts";
import { appendMetrics, writeSummary } from "./run_folder.ts";
import { RunLockedError } from "./run_lock.ts";
import {
  type Held,
  type PreparedRun,
  prepareNewRun,
  prepareResumedRun,
  type SetupOptions,
} from "./setup.ts";

export { NonFiniteLossError, RunConfigError, RunInterruptedError, RunLockedError };
export type { EpochMetrics, ResumeChanges, TrainSummary };

/** Options of {@linkcode train} and {@linkcode resume}. */
export interface TrainOptions {
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
   * The caller holds the run folder's lock (`lockRun`) and keeps it until
   * train returns, as `compare` does; train does not take it again.
   */
  lockHeld?: boolean;
}

/** Options of {@linkcode resume}: those of {@linkcode train}, and the model expected. */
export interface ResumeOptions extends Omit<TrainOptions, "uniqueOut"> {
  /** Refuse a folder that holds another model's run. */
  model?: TrainConfig["model"];
}

/** How often, by default, a long epoch also saves a checkpoint mid-way. */
export const DEFAULT_CHECKPOINT_MINUTES = 10;

/**
 * Train a new run as `config` says (see `resolveConfig`); returns the
 * summary it also writes. The run folder is claimed for this run alone and
 * locked while it trains.
 *
 * @example
 * ```ts ignore
 * import { resolveConfig } from "@vision-attention/sa";
 * import { train } from "@vision-attention/sa/train";
 * const config = resolveConfig("vit", { preset: "tiny", epochs: 1, data: "sample", out: "runs/t" });
 * console.log((await train(config)).testAccuracy);
 * ```
 */
export function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainSummary> {
  return withHeld((held) => prepareNewRun(config, setupOptions(options), held), options);
}

/**
 * Continue the run in folder `dir` from its checkpoint, with its saved
 * settings and `changes` (epochs, minutes, data, backend). A resumed run
 * takes the same steps an uninterrupted one would have taken.
 */
export function resume(
  dir: string,
  changes: ResumeChanges = {},
  options: ResumeOptions = {},
): Promise<TrainSummary> {
  return withHeld(
    (held) =>
      prepareResumedRun(dir, changes, { ...setupOptions(options), model: options.model }, held),
    options,
  );
}

function setupOptions(o: TrainOptions): SetupOptions {
  return { uniqueOut: o.uniqueOut, lockHeld: o.lockHeld, quiet: o.quiet, signal: o.signal };
}

/** Prepare and run, releasing what was taken (workers, then locks) however it ends. */
async function withHeld(
  prepare: (held: Held[]) => Promise<PreparedRun>,
  options: TrainOptions,
): Promise<TrainSummary> {
  const held: Held[] = [];
  try {
    return await runEpochs(await prepare(held), options);
  } finally {
    for (const h of held.reverse()) await h.release();
  }
}

/** The epochs left, the final evaluation and the summary of a prepared run. */
async function runEpochs(p: PreparedRun, options: TrainOptions): Promise<TrainSummary> {
  const { config, spec, data, out, run } = p;
  let { params, state } = p;
  const ckpt = join(out, "checkpoint.safetensors");
  const progress = new Progress({ silent: options.quiet });
  const budgetSeconds = config.minutes > 0 ? config.minutes * 60 : Infinity;
  let stoppedBy: TrainSummary["stoppedBy"] = "epochs";
  let last: EvalResult | null = null;
  // A fresh run cannot know what a step costs until one has run, so its
  // first step always runs, even past the budget (reported below); a
  // resumed one knows from its checkpoint.
  let lastStepSeconds = run.lastStepSeconds ?? 0;
  const signal = options.signal;
  const stopRequested = () => signal?.aborted === true || run.step === options.stopAfterStep;
  const schedule = scheduleOf(config, p.stepsPerEpoch), optimizer = optimizerOf(config);

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
      rng: p.rng,
      run,
      progress,
      budgetSeconds,
      lastStepSeconds,
      ckpt,
      microBatches: p.microBatches,
      workers: p.workers,
      checkpointSeconds: 60 * (options.checkpointMinutes ?? DEFAULT_CHECKPOINT_MINUTES),
      stopRequested,
    };
    const e = await trainEpoch(ctx, params, state);
    ({ params, state, lastStepSeconds } = e);
    if (e.outOfTime) stoppedBy = "minutes";
    if (e.seen === 0) break;
    params = calibrate(spec, params, data.train);
    try {
      last = await evaluate(spec, params, data.test, { shouldStop: stopRequested });
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
    const metrics = recordEpoch(run, e, last, p.rng.state, lastStepSeconds);
    // Checkpoint first, then its metrics line: a kill between the two loses
    // no line, since the checkpoint holds it and a resume restores it.
    await saveCheckpoint(ckpt, params, state, run);
    await appendMetrics(out, metrics);
    if (!options.quiet) logEpoch(metrics, run.bestTestAccuracy);
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
      return await evaluate(spec, params, data.test, { tta, shouldStop: stopRequested });
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
  const views = config.tta === "none" ? plain : await finalEval(config.tta);
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
    imagesPerSecond: (run.step * config.batchSize) / Math.max(run.trainSeconds, 1e-9),
    testAccuracy: views.accuracy,
    tta: config.tta,
    testAccuracyPlain: plain.accuracy,
    // One-view accuracies only, as the field says: `views` may average several.
    bestTestAccuracy: Math.max(run.bestTestAccuracy, plain.accuracy),
    perClassAccuracy: views.perClassAccuracy,
    confusion: views.confusion,
    backend: p.backend.name,
    backendDescription: p.backend.description,
    stoppedBy,
    out,
  };
  await writeSummary(out, summary);
  [params, state.m, state.v].forEach(disposeTree);
  return summary;
}

/** Advance `run` past a finished, evaluated epoch; returns its metrics line. */
function recordEpoch(
  run: RunState,
  e: Awaited<ReturnType<typeof trainEpoch>>,
  evaluation: EvalResult,
  rng: RunState["rng"],
  lastStepSeconds: number,
): EpochMetrics {
  run.trainSeconds += e.seconds; // training only, before evaluation
  run.epoch += 1;
  run.rng = rng;
  run.bestTestAccuracy = Math.max(run.bestTestAccuracy, evaluation.accuracy);
  run.metrics = {
    epoch: run.epoch,
    step: run.step,
    trainLoss: e.lossSum / e.seen,
    trainAccuracy: e.correct / e.seen,
    testAccuracy: evaluation.accuracy,
    perClassAccuracy: evaluation.perClassAccuracy,
    lr: e.lr,
    trainSeconds: run.trainSeconds,
    imagesPerSecond: e.seen / e.seconds,
  };
  run.lastStepSeconds = lastStepSeconds;
  return run.metrics;
}

function logEpoch(m: EpochMetrics, best: number): void {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  console.error(
    `epoch ${m.epoch}: train loss ${m.trainLoss.toFixed(4)}, train acc ${pct(m.trainAccuracy)}, ` +
      `test acc ${pct(m.testAccuracy)} (best ${pct(best)})`,
  );
}
