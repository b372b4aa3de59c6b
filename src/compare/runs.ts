/**
 * The runs of a comparison: each reused when finished, resumed from its
 * checkpoint when interrupted, trained otherwise, and skipped while another
 * process holds it (several processes can share one comparison's runs).
 *
 * @module
 */
import { join } from "node:path";
import { exists } from "../core/exists.ts";
import { dataDir, type TrainConfig } from "../train/config.ts";
import { RunInterruptedError } from "../train/errors.ts";
import { resume, train } from "../train/loop.ts";
import { LOCK_FILE, lockRun, RunLockedError } from "../train/run_lock.ts";
import { readRun, type RunRecord } from "../report/run_record.ts";
import type { HowToTrain } from "./plan.ts";

const SETTINGS = [
  "model",
  "preset",
  "epochs",
  "minutes",
  "batchSize",
  "seed",
  "trainSize",
] as const;

/**
 * Runs of a comparison that other processes are still training: this one
 * trained or reused every other run, and the report waits for these.
 */
export class PendingRunsError extends Error {
  /** The comparison folder. */
  readonly out: string;
  /** The folders of the runs still training (empty when only the report is being written). */
  readonly pending: string[];
  /**
   * The error for `out`, naming what is pending.
   *
   * @param out the comparison folder
   * @param pending the folders of the runs still training (none: only the report is)
   * @param reporter the process writing the report, when every run is done
   */
  constructor(out: string, pending: string[], reporter?: number) {
    super(
      pending.length
        ? `${pending.length} run${pending.length === 1 ? " is" : "s are"} still training in ` +
          `other processes (${pending.join("; ")}); every other run is finished. ` +
          `The last process to finish writes the report; if they were stopped, ` +
          `\`deno task compare --resume ${out}\` continues.`
        : `every run of ${out} is done and ${
          reporter ? `process ${reporter}` : "another process"
        } is writing the report; nothing is left for this one.`,
    );
    this.out = out;
    this.pending = pending;
  }
}

/**
 * One run of the comparison: reused when finished, resumed from its
 * checkpoint when interrupted, trained otherwise; null when another live
 * process holds its folder (that process is training it: two processes can
 * share a comparison's runs, one at a time each).
 */
async function runOne(config: TrainConfig, how: HowToTrain): Promise<RunRecord | null> {
  const { quiet } = how;
  const dir = config.out, label = `${config.model}:${config.preset}, seed ${config.seed}`;
  const finished = async () => {
    if (!(await exists(join(dir, "summary.json")))) return null;
    const run = await readRun(dir);
    for (const key of SETTINGS) {
      if (run.config[key] !== config[key]) {
        throw new Error(
          `${dir} holds a finished run with ${key} ${run.config[key]}, not ${
            config[key]
          }; this comparison's settings changed: use another --out`,
        );
      }
    }
    if (!quiet) console.error(`compare: ${label}: finished, reused`);
    return run;
  };
  const done = await finished();
  if (done) return done;
  await Deno.mkdir(dir, { recursive: true });
  let lock;
  try {
    lock = await lockRun(dir);
  } catch (e) {
    if (!(e instanceof RunLockedError)) throw e;
    if (!quiet) {
      console.error(
        `compare: ${label}: ${
          e.holder ? `process ${e.holder.pid}` : "another process"
        } is training it; next`,
      );
    }
    return null;
  }
  try {
    const doneMeanwhile = await finished(); // by the process that held it a moment ago
    if (doneMeanwhile) return doneMeanwhile;
    if (await exists(join(dir, "checkpoint.safetensors"))) {
      if (!quiet) console.error(`compare: ${label}: resuming from ${dir}`);
      await resume(dir, { backend: config.backend }, { ...how, lockHeld: true });
    } else {
      // Killed before its first checkpoint: nothing in it can be resumed.
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== LOCK_FILE);
      const ours = (n: string) =>
        n === "config.json" || n === "metrics.jsonl" || n.includes(".tmp");
      if (!names.every(ours)) {
        throw new Error(`${dir} holds files a run does not write (${names.join(", ")}); move them`);
      }
      for (const n of names) await Deno.remove(join(dir, n), { recursive: true });
      if (!quiet) console.error(`compare: ${label}: training`);
      await train(config, { ...how, lockHeld: true });
    }
    return await readRun(dir);
  } finally {
    await lock.release();
  }
}

/**
 * Every run, in order; a run that another process holds is skipped and
 * looked at again after the others, until a pass changes nothing. A process
 * releases each run before it looks at the next, so the last process to
 * finish finds them all done. Holes (null) are runs still held.
 */
export async function runAll(configs: TrainConfig[], how: HowToTrain): Promise<RunRecord[]> {
  const runs: (RunRecord | null)[] = configs.map(() => null);
  for (let progress = true; progress;) {
    progress = false;
    for (let i = 0; i < configs.length; i++) {
      if (runs[i]) continue;
      if (how.signal?.aborted) {
        throw new RunInterruptedError(configs[i].out, "stopped before the next run started");
      }
      runs[i] = await runOne(configs[i], how);
      progress ||= runs[i] !== null;
    }
  }
  return runs as RunRecord[];
}

export function checkSameData(runs: RunRecord[]): void {
  const key = (r: RunRecord) =>
    `${r.summary.trainImages} training / ${r.summary.testImages} test images, augment ${r.config.augment}, from ${
      dataDir(r.config.data)
    }`;
  const keys = [...new Set(runs.map(key))];
  if (keys.length !== 1) {
    throw new Error(
      `The runs used different data or augmentation (${
        keys.join(" vs ")
      }); compare runs on the same images`,
    );
  }
}

/** A stop after every run finished: nothing is lost, and a resume writes the report. */
export function stoppedBeforeReport(dir: string): RunInterruptedError {
  return new RunInterruptedError(
    dir,
    "every run is finished; stopped before the report was written (a resume writes it)",
  );
}
