/**
 * A fair comparison of any set of models (`cnn:hour`, `cnn:hour-noattn`,
 * `vit:hour-deep`, ...): the CNN-SA and the ViT of the set are checked to be
 * within 5% in parameters before anything trains; every model then trains on
 * the same images with the same augmentation and seeds (seed s gives every
 * model the same data order) and the same budget, equal epochs by default.
 * An interrupted comparison continues where it stopped: finished runs are
 * reused and unfinished ones resume from their checkpoints. The results are
 * rendered by `report/` into `results.json`, plots and `report.md`.
 *
 * @module
 */
import { join, relative } from "node:path";
import { selectBackend } from "../backend/select.ts";
import { writeFileAtomic } from "../core/safetensors.ts";
import { loadTestSet } from "../data/cifar.ts";
import { dataDir } from "../train/config.ts";
import { ttaMode } from "../train/evaluate.ts";
import { lockRun, RunLockedError } from "../train/run_lock.ts";
import { claimFolder } from "../train/run_folder.ts";
import { aggregate, paired, runKey } from "../report/aggregate.ts";
import { writeFigures } from "../report/figures.ts";
import { renderReport } from "../report/report.ts";
import type { CompareResults, ReferenceRun } from "../report/results.ts";
import { readRun, type RunRecord } from "../report/run_record.ts";
import { checkParamGap, hasAttention, matchedPair } from "./models.ts";
import { type CompareOptions, type Plan, planOf, readPlan, runConfig } from "./plan.ts";
import { checkSameData, PendingRunsError, runAll, stoppedBeforeReport } from "./runs.ts";
import { measureSpeeds } from "./speeds.ts";

function reference(r: RunRecord, out: string): ReferenceRun {
  return {
    key: runKey(r),
    model: r.config.model,
    preset: r.config.preset,
    params: r.summary.params,
    epochs: r.summary.epochs,
    trainSeconds: r.summary.trainSeconds,
    stoppedBy: r.summary.stoppedBy,
    testAccuracy: r.summary.testAccuracy,
    testAccuracyPlain: r.summary.testAccuracyPlain ?? r.summary.testAccuracy,
    tta: ttaMode(r.summary.tta),
    dir: relative(out, r.dir) || ".",
  };
}

/** Group runs by model, in first-seen order. */
function byModel(runs: RunRecord[]): Map<string, RunRecord[]> {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) groups.set(runKey(r), [...(groups.get(runKey(r)) ?? []), r]);
  return groups;
}

/**
 * Train (or reuse, or resume) every run of the comparison, then write
 * `results.json`, plots and `report.md` into `o.out`.
 */
export async function compare(
  options: CompareOptions,
): Promise<{ results: CompareResults; report: string; out: string }> {
  let o = options;
  // Every check that can fail runs before anything is trained or created.
  const refs = await Promise.all((o.reference ?? []).map(readRun));
  let runs: RunRecord[];
  if (o.runs) {
    runs = [];
    for (const dir of o.runs) runs.push(await readRun(dir)); // in order: the first bad one is named
    matchedPairOfRuns(runs);
    checkSameData(runs);
    o = { ...o, out: await claimCompareFolder(o, null) };
    // The attention maps run models too: on the chosen backend, not tfjs's default.
    await selectBackend(o.backend, o.quiet);
  } else {
    matchedPair(o.models);
    const saved = o.uniqueOut ? null : await readPlan(o.out);
    if (saved && JSON.stringify(saved) !== JSON.stringify(planOf(o))) {
      throw new Error(
        `${o.out} holds a comparison with other settings (${
          JSON.stringify(saved)
        }); continue it with --resume ${o.out} or choose another --out`,
      );
    }
    if (!saved) o = { ...o, out: await claimCompareFolder(o, planOf(o)) };
    await selectBackend(o.backend, o.quiet);
    // Seed-major order: an interrupted comparison has every model at the same
    // number of seeds, so its partial report is balanced.
    const configs = [];
    for (let seed = 0; seed < o.seeds; seed++) {
      for (const m of o.models) configs.push(runConfig(o, m, seed));
    }
    runs = await runAll(configs, {
      quiet: o.quiet,
      signal: o.signal,
      checkpointMinutes: o.checkpointMinutes,
    });
    const pending = configs.filter((_, i) => !runs[i]).map((c) => c.out);
    if (pending.length) throw new PendingRunsError(o.out, pending);
    checkSameData(runs);
  }
  if (o.signal?.aborted) throw stoppedBeforeReport(o.out);
  // One process measures and reports: the speeds are measured alone.
  let reportLock;
  try {
    reportLock = await lockRun(o.out);
  } catch (e) {
    if (e instanceof RunLockedError) throw new PendingRunsError(o.out, [], e.holder?.pid);
    throw e;
  }
  try {
    return await writeReport(o, runs, refs);
  } finally {
    await reportLock.release();
  }
}

/** Aggregate finished runs, measure speeds if asked, write plots, results and report. */
async function writeReport(
  o: CompareOptions,
  runs: RunRecord[],
  refs: RunRecord[],
): Promise<{ results: CompareResults; report: string; out: string }> {
  const gap = matchedPairOfRuns(runs);
  const groups = byModel(runs);
  const models = [...groups.values()].map((rs) =>
    aggregate(rs, hasAttention(rs[0].config.model, rs[0].config.preset))
  );
  if (o.speedSteps) {
    // The backend the runs chose (already selected unless the runs were reused).
    const backend = (await selectBackend(o.backend, o.quiet)).name;
    const speeds = await measureSpeeds(groups, o.speedSteps, backend, o.quiet, o.signal);
    for (const m of models) m.measured = speeds.get(m.key);
  }
  // Plots run every model on test images, which takes a while: a stop before
  // them, or during them, ends here, and a resume writes the whole report.
  if (o.signal?.aborted) throw stoppedBeforeReport(o.out);
  const cnn = models.find((m) => m.model === "cnn" && m.attention)!,
    vit = models.find((m) => m.model === "vit")!;
  const pairs = [
    paired(cnn, vit, "matched"),
    ...models.filter((m) => m.model === "cnn" && !m.attention).map((m) =>
      paired(cnn, m, "ablation")
    ),
  ];
  const data = await loadTestSet(dataDir(runs[0].config.data), { testSize: 4 });
  const plots = await writeFigures(o.out, models, (m) => groups.get(m.key)!, data.test);
  if (o.signal?.aborted) throw stoppedBeforeReport(o.out);
  const epochs = new Set(runs.map((r) => r.summary.epochs));
  const results: CompareResults = {
    budget: runs.every((r) => r.summary.stoppedBy === "epochs") && epochs.size === 1
      ? "epochs"
      : "minutes",
    epochs: Math.max(...epochs),
    minutes: runs[0].config.minutes,
    seeds: Math.min(...models.map((m) => m.seeds.length)),
    trainImages: runs[0].summary.trainImages,
    testImages: runs[0].summary.testImages,
    paramGap: gap,
    models,
    pairs,
    references: refs.map((r) => reference(r, o.out)),
    plots,
  };
  const report = renderReport(results);
  await writeFileAtomic(join(o.out, "results.json"), JSON.stringify(results, null, 2) + "\n");
  await writeFileAtomic(join(o.out, "report.md"), report);
  return { results, report, out: o.out };
}

/**
 * Claim `o.out` (with `uniqueOut`, the first of `out`, `out-2`, ... that does
 * not exist yet) and, for a comparison that trains, its `compare.json`,
 * exclusively: of two comparisons started on one folder, the second is told
 * to resume the first instead of training beside it. Returns the folder.
 */
function claimCompareFolder(o: CompareOptions, plan: Plan | null): Promise<string> {
  return claimFolder(o.out, {
    unique: o.uniqueOut,
    file: plan
      ? {
        name: "compare.json",
        content: () => JSON.stringify(plan) + "\n",
        taken: (out) =>
          new Error(
            `${out} holds a comparison that started while this one did; continue it with ` +
              `--resume ${out}`,
          ),
      }
      : undefined,
  });
}

/** The matched pair's gap among finished runs (their recorded parameter counts). */
function matchedPairOfRuns(runs: RunRecord[]): number {
  const cnn = runs.find((r) =>
      r.config.model === "cnn" && hasAttention(r.config.model, r.config.preset)
    ),
    vit = runs.find((r) => r.config.model === "vit");
  if (!cnn || !vit) {
    throw new Error("A comparison needs at least one CNN-SA run and one ViT run");
  }
  const gap = checkParamGap(
    runKey(cnn),
    cnn.summary.params,
    runKey(vit),
    vit.summary.params,
  );
  return gap;
}
