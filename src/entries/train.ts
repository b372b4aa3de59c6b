/**
 * Training runs in Deno: the loop that writes a run folder (`config.json`,
 * `metrics.jsonl`, an atomic `checkpoint.safetensors` after each epoch and
 * every ten minutes within one, `summary.json`), resumable from its
 * checkpoint, and stoppable with an `AbortSignal`; checkpoints and parameter
 * files on disk. One step of training (`trainStep`), AdamW and checkpoints
 * as bytes are platform-neutral and live in the root entry.
 *
 * @example Train the tiny ViT for one epoch on 256 images of a CIFAR-10 folder
 * ```ts
 * import { resolveConfig } from "@vision-attention/sa";
 * import { train } from "@vision-attention/sa/train";
 * const config = resolveConfig("vit", {
 *   preset: "tiny",
 *   epochs: 1,
 *   data: "data/sample",
 *   trainSize: 256,
 *   testSize: 100,
 *   out: `${await Deno.makeTempDir()}/run`,
 * });
 * const summary = await train(config, { quiet: true });
 * console.assert(summary.steps === 2 && summary.testImages === 100);
 * ```
 *
 * @module
 */
export * from "../train/loop.ts";
export { LOCK_FILE, type LockHolder, lockRun, type RunLock } from "../train/run_lock.ts";
export { readCheckpoint, saveCheckpoint, saveModel } from "../train/checkpoint.ts";
export { GradientWorkers, type WorkerSums } from "../train/gradient_workers.ts";
export { loadParams, saveParams, writeFileAtomic } from "../core/safetensors.ts";
