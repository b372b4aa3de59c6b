/**
 * Each model's training speed measured alone after a comparison's runs.
 *
 * @module
 */
import { nextMacrotask } from "../core/event_loop.ts";
import { modelSpec } from "../models/presets.ts";
import { isCpuBackend } from "../train/config.ts";
import { measure } from "../bench/measure.ts";
import type { MeasuredSpeed } from "../report/aggregate.ts";
import type { RunRecord } from "../report/run_record.ts";
import { stoppedBeforeReport } from "./runs.ts";

/**
 * Each model's training speed, measured after the runs with nothing else in
 * this process: `steps` training steps at the batch its runs used, in two
 * interleaved rounds so that drift on the machine touches every model alike.
 * A comparison can span days on a shared machine; these rates are the ones
 * to compare, the runs' own rates are what each run happened to get.
 */
export async function measureSpeeds(
  groups: Map<string, RunRecord[]>,
  steps: number,
  backend: string,
  quiet?: boolean,
  signal?: AbortSignal,
): Promise<Map<string, MeasuredSpeed>> {
  const seen = new Map<string, { seconds: number; range: number[]; steps: number }>();
  const perRound = Math.max(1, Math.ceil(steps / 2));
  for (let round = 0; round < 2; round++) {
    for (const [key, runs] of groups) {
      const { model, preset, batchSize, threads } = runs[0].config;
      await nextMacrotask();
      if (signal?.aborted) throw stoppedBeforeReport(runs[0].config.out);
      if (!quiet) console.error(`compare: measuring ${key} alone, round ${round + 1} of 2`);
      const t = await measure(modelSpec(model, preset), "train", {
        batchSize,
        steps: perRound,
        maxSeconds: Infinity,
        // The threads the runs took (saved resolved); a CPU backend only.
        threads: typeof threads === "number" && isCpuBackend(backend) ? threads : 1,
      });
      const acc = seen.get(key) ?? { seconds: 0, range: [], steps: 0 };
      acc.seconds += (t.steps * t.batchSize) / t.imagesPerSecond;
      acc.range.push(...t.stepRange);
      acc.steps += t.steps;
      seen.set(key, acc);
    }
  }
  return new Map(
    [...seen].map(([key, a]) => {
      const batchSize = groups.get(key)![0].config.batchSize;
      return [key, {
        backend,
        batchSize,
        steps: a.steps,
        imagesPerSecond: (a.steps * batchSize) / a.seconds,
        stepRange: [Math.min(...a.range), Math.max(...a.range)] as [number, number],
      }];
    }),
  );
}
