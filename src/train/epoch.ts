/**
 * One epoch of training: a shuffled pass over the training set (or until the
 * time budget ends) of batch, learning rate, explicit-gradient step and
 * progress, with mid-epoch checkpoints when asked for or when stopped.
 *
 * @module
 */
import type { ParamTree } from "../core/params.ts";
import { Rng } from "../core/rng.ts";
import { nextMacrotask } from "../core/event_loop.ts";
import { imageBatch } from "../data/batches.ts";
import type { ImageSet } from "../data/cifar.ts";
import type { ModelSpec } from "../models/presets.ts";
import type { Progress } from "../cli/progress.ts";
import type { AdamWConfig, AdamWState } from "./adamw.ts";
import { type PartialEpoch, type RunState, saveCheckpoint } from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import { NonFiniteLossError, RunInterruptedError } from "./errors.ts";
import { calibrate } from "./evaluate.ts";
import type { GradientWorkers } from "./gradient_workers.ts";
import { learningRate, type ScheduleConfig } from "./schedule.ts";
import { stepParams } from "./step.ts";

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

/** What one epoch needs besides the parameters and optimizer state. */
export interface EpochContext {
  spec: ModelSpec;
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
export async function trainEpoch<P extends ParamTree>(
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
    using batch = imageBatch(ctx.data, batchOrder, config.augment ? ctx.rng : null);
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
    const r = await stepParams(ctx.spec.apply, params, state, batch, stepConfig, ctx.rng)
      .catch((e) => Promise.reject(explainAbort(e, config.batchSize)));
    lastStepSeconds = (performance.now() - stepStart) / 1000;
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
export async function savePartial<P extends ParamTree>(
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
export function checkpointPlace(run: RunState, stepsPerEpoch: number): string {
  return run.partial
    ? `epoch ${run.epoch + 1}, step ${run.partial.step} of ${stepsPerEpoch}`
    : `epoch ${run.epoch}`;
}
