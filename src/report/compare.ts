/**
 * A fair comparison of any set of models (`cnn:hour`, `cnn:hour-noattn`,
 * `vit:hour-deep`, ...): the CNN-SA and the ViT of the set are checked to be
 * within 5% in parameters before anything trains; every model then trains on
 * the same images with the same augmentation and seeds (seed s gives every
 * model the same data order) and the same budget, equal epochs by default.
 * An interrupted comparison continues where it stopped: finished runs are
 * reused and unfinished ones resume from their checkpoints. Results go to
 * `results.json`, plots (SVG and PNG) and a generated `report.md`.
 *
 * @module
 */
import { dirname, join, relative } from "node:path";
import { type BackendName, selectBackend } from "../backend/select.ts";
import { writeFileAtomic } from "../core/safetensors.ts";
import { loadTestSet } from "../data/cifar.ts";
import type { CNNConfig } from "../models/cnn.ts";
import { type ModelKind, modelSpec, presetNames } from "../models/presets.ts";
import {
  dataDir,
  defaultConfig,
  isCpuBackend,
  presetDefaults,
  type TrainConfig,
} from "../train/config.ts";
import { ttaMode } from "../train/evaluate.ts";
import { RunInterruptedError, train, type TrainOptions } from "../train/loop.ts";
import { nextMacrotask } from "../core/event_loop.ts";
import { LOCK_FILE, lockRun, RunLockedError } from "../train/run_lock.ts";
import { measure } from "../bench/measure.ts";
import {
  aggregate,
  type MeasuredSpeed,
  type ModelResult,
  paired,
  type PairedResult,
  runKey,
} from "./aggregate.ts";
import { writeFigures } from "./figures.ts";
import { renderReport } from "./report.ts";
import { readRun, type RunRecord } from "./run_record.ts";
import { exists } from "../core/exists.ts";

export { aggregate, paired, stat } from "./aggregate.ts";
export type { MeasuredSpeed, ModelResult, PairedResult, Stat } from "./aggregate.ts";
export { readRun } from "./run_record.ts";
export type { RunRecord } from "./run_record.ts";

/** The largest parameter gap, relative to the ViT, of a matched CNN-SA/ViT pair. */
export const MAX_PARAM_GAP = 0.05;

/** A model in a comparison: a kind and one of its presets, written `kind:preset`. */
export interface ModelId {
  /** Which model. */
  kind: ModelKind;
  /** One of its presets. */
  preset: string;
}

/**
 * Parse `cnn:hour,cnn:hour-noattn,vit:hour-deep` into model ids; every
 * kind and preset must exist and none may repeat.
 */
export function parseModels(text: string): ModelId[] {
  const ids = text.split(",").map((s) => s.trim()).filter((s) => s);
  const seen = new Set<string>();
  return ids.map((id) => {
    const [kind, preset, ...rest] = id.split(":");
    if (kind !== "cnn" && kind !== "vit" || !preset || rest.length) {
      throw new Error(`"${id}" is not a model; write kind:preset, e.g. cnn:hour or vit:hour-deep`);
    }
    if (!presetNames(kind).includes(preset)) {
      throw new Error(
        `"${id}": ${kind} has no preset "${preset}"; choose one of ${presetNames(kind).join(", ")}`,
      );
    }
    if (seen.has(id)) throw new Error(`"${id}" appears twice in the model list`);
    seen.add(id);
    return { kind, preset };
  });
}

/**
 * The parameter gap of a CNN-SA and a ViT, relative to the ViT; throws when
 * it exceeds {@linkcode MAX_PARAM_GAP}.
 */
function checkParamGap(cnn: string, pc: number, vit: string, pv: number): number {
  const gap = Math.abs(pc - pv) / pv;
  if (gap > MAX_PARAM_GAP) {
    throw new Error(
      `${cnn} (${pc.toLocaleString("en-US")} parameters) and ${vit} (${
        pv.toLocaleString("en-US")
      }) differ by ${(100 * gap).toFixed(1)}%; a fair comparison needs ${
        100 * MAX_PARAM_GAP
      }% or less (deno task info lists every preset's size; cnn:hour matches vit:hour-deep)`,
    );
  }
  return gap;
}

/** Whether a model has self-attention layers (every ViT does). */
export function hasAttention(kind: ModelKind, preset: string): boolean {
  if (kind === "vit") return true;
  return (modelSpec(kind, preset).config as CNNConfig).stages.some((s) => s.attention);
}

/**
 * The matched pair of a set: its first CNN with self-attention and its first
 * ViT, whose parameter counts must be within {@linkcode MAX_PARAM_GAP}.
 * Throws, before anything trains, when either is missing or they are not
 * comparable.
 */
export function matchedPair(models: ModelId[]): { cnn: ModelId; vit: ModelId; gap: number } {
  const cnn = models.find((m) => m.kind === "cnn" && hasAttention(m.kind, m.preset)),
    vit = models.find((m) => m.kind === "vit");
  if (!cnn || !vit) {
    throw new Error(
      "A comparison needs a CNN with self-attention and a ViT, e.g. --models cnn:hour,vit:hour-deep",
    );
  }
  const pc = modelSpec(cnn.kind, cnn.preset).paramCount,
    pv = modelSpec(vit.kind, vit.preset).paramCount;
  const gap = checkParamGap(`cnn:${cnn.preset}`, pc, `vit:${vit.preset}`, pv);
  return { cnn, vit, gap };
}

/** What to compare. */
export interface CompareOptions {
  /** The models; the first CNN-SA and the first ViT are the matched pair. */
  models: ModelId[];
  /** Epochs of every run (the primary budget: every model sees the same images). */
  epochs: number;
  /** Alternative budget: training minutes per run (0: none). */
  minutes: number;
  /** Runs per model, with seeds 0 .. seeds-1. */
  seeds: number;
  /** Images per step; by default each preset's own (256 for the hour presets). */
  batchSize?: number;
  /**
   * Training threads of every run (see `TrainConfig.threads`); absent: 1,
   * which comparisons saved before threads existed keep.
   */
  threads?: number | "auto";
  /** `sample`, or a folder with the CIFAR-10 binary files. */
  data: string;
  /** Use only the first this many training images. */
  trainSize?: number;
  /** Use only the first this many test images. */
  testSize?: number;
  /** The tfjs backend. */
  backend: BackendName;
  /** The folder the report, results and plots go to. */
  out: string;
  /**
   * Never continue an existing `out`: a new comparison gets the first free
   * `out-2`, `out-3`, ... (for default, timestamped folders: two comparisons
   * started in the same second get different folders).
   */
  uniqueOut?: boolean;
  /** Reuse finished run folders instead of training. */
  runs?: string[];
  /** Finished runs shown beside the comparison at their own budget (e.g. 60-minute runs). */
  reference?: string[];
  /**
   * After the runs, measure each model's training speed alone for this many
   * steps (0 or absent: no measurement; the report then quotes only the
   * runs' own rates).
   */
  speedSteps?: number;
  /** Silence progress. */
  quiet?: boolean;
  /**
   * Once aborted, the run under way stops after its step with a checkpoint
   * and compare throws {@linkcode RunInterruptedError}; `--resume` continues.
   */
  signal?: AbortSignal;
  /** Minutes between mid-epoch checkpoints (see `TrainOptions.checkpointMinutes`). */
  checkpointMinutes?: number;
}

/** The training options every run of a comparison shares. */
type HowToTrain = Pick<TrainOptions, "quiet" | "signal" | "checkpointMinutes">;

/** A finished run shown beside the comparison at its own budget. */
export interface ReferenceRun {
  /** `kind:preset`. */
  key: string;
  /** Which model. */
  model: ModelKind;
  /** Its preset. */
  preset: string;
  /** Parameter count. */
  params: number;
  /** Epochs it trained. */
  epochs: number;
  /** Training seconds. */
  trainSeconds: number;
  /** What ended training: `epochs` or `minutes`. */
  stoppedBy: string;
  /** Final test accuracy with its test-time augmentation. */
  testAccuracy: number;
  /** Final test accuracy from one view. */
  testAccuracyPlain: number;
  /** The views `testAccuracy` averaged. */
  tta: string;
  /** The run folder, relative to the comparison's folder (a link from its report). */
  dir: string;
}

/** `results.json`. */
export interface CompareResults {
  /** `epochs` when every run had the same epoch budget, else `minutes`. */
  budget: "epochs" | "minutes";
  /** Epochs per run (the budget when `budget` is `epochs`). */
  epochs: number;
  /** Minutes per run (the budget when `budget` is `minutes`). */
  minutes: number;
  /** Runs per model. */
  seeds: number;
  /** Training images per run. */
  trainImages: number;
  /** Test images per run. */
  testImages: number;
  /** Relative parameter gap of the matched pair. */
  paramGap: number;
  /** One result per model, in the order asked for. */
  models: ModelResult[];
  /** Paired differences: the matched pair, then ablations. */
  pairs: PairedResult[];
  /** Runs shown beside the comparison at their own budget. */
  references: ReferenceRun[];
  /** Plot files written beside `results.json`. */
  plots: string[];
}

/** The settings that make a comparison; saved as `compare.json` to resume it. */
export type Plan = Omit<
  CompareOptions,
  "backend" | "out" | "uniqueOut" | "runs" | "reference" | "speedSteps" | "quiet"
>;

function planOf(o: CompareOptions): Plan {
  return {
    models: o.models,
    epochs: o.epochs,
    minutes: o.minutes,
    seeds: o.seeds,
    batchSize: o.batchSize,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    data: o.data,
    trainSize: o.trainSize,
    testSize: o.testSize,
  };
}

/** The plan saved in a comparison folder, or null when there is none. */
export async function readPlan(dir: string): Promise<Plan | null> {
  const path = join(dir, "compare.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    return JSON.parse(text) as Plan;
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message})`);
  }
}

/** The training config of one model and seed in a comparison. */
export function runConfig(o: CompareOptions, m: ModelId, seed: number): TrainConfig {
  const d = { ...defaultConfig(m.kind), ...presetDefaults(m.kind, m.preset) };
  return {
    ...d,
    preset: m.preset,
    epochs: o.epochs,
    minutes: o.minutes,
    batchSize: o.batchSize ?? d.batchSize,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    seed,
    data: o.data,
    trainSize: o.trainSize,
    testSize: o.testSize,
    backend: o.backend,
    out: join(o.out, `${m.kind}-${m.preset}-seed${seed}`),
  };
}

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
      await train(config, { ...how, resume: dir, lockHeld: true });
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
async function runAll(configs: TrainConfig[], how: HowToTrain): Promise<RunRecord[]> {
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

function checkSameData(runs: RunRecord[]): void {
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

/** A stop after every run finished: nothing is lost, and a resume writes the report. */
function stoppedBeforeReport(dir: string): RunInterruptedError {
  return new RunInterruptedError(
    dir,
    "every run is finished; stopped before the report was written (a resume writes it)",
  );
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
 * Create `o.out` (with `uniqueOut`, the first of `out`, `out-2`, ... that does
 * not exist yet) and, for a comparison that trains, its `compare.json`,
 * exclusively: of two comparisons started on one folder, the second is told
 * to resume the first instead of training beside it. Returns the folder.
 */
async function claimCompareFolder(o: CompareOptions, plan: Plan | null): Promise<string> {
  await Deno.mkdir(dirname(o.out), { recursive: true });
  let out = o.out;
  for (let i = 2; o.uniqueOut; i++) {
    try {
      await Deno.mkdir(out); // not recursive: fails if it exists
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      out = `${o.out}-${i}`;
    }
  }
  await Deno.mkdir(out, { recursive: true });
  if (!plan) return out;
  // Written whole beside it, then linked into place: a link fails if the
  // name exists, so the plan appears complete and only once.
  const temp = join(out, `compare.json.tmp-${Deno.pid}-${Date.now()}`);
  await Deno.writeTextFile(temp, JSON.stringify(plan) + "\n");
  try {
    await Deno.link(temp, join(out, "compare.json"));
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    throw new Error(
      `${out} holds a comparison that started while this one did; continue it with --resume ${out}`,
    );
  } finally {
    await Deno.remove(temp);
  }
  return out;
}

/**
 * Each model's training speed, measured after the runs with nothing else in
 * this process: `steps` training steps at the batch its runs used, in two
 * interleaved rounds so that drift on the machine touches every model alike.
 * A comparison can span days on a shared machine; these rates are the ones
 * to compare, the runs' own rates are what each run happened to get.
 */
async function measureSpeeds(
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
