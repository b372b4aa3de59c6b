/**
 * A run's folder (`config.json`, `metrics.jsonl`, `checkpoint.safetensors`,
 * `summary.json`): claimed by exactly one run, and brought back in line with
 * its checkpoint when the run resumes after being killed.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../core/safetensors.ts";
import { RunConfigError } from "./errors.ts";
import type { EpochMetrics, TrainSummary } from "./records.ts";

/** The files a run writes; a folder holding any of them holds a run. */
export const RUN_FILES: readonly string[] = [
  "config.json",
  "metrics.jsonl",
  "checkpoint.safetensors",
  "summary.json",
];

export { RunConfigError };

/** The first of {@linkcode RUN_FILES} in `dir`, or undefined when it holds no run. */
export async function runFileIn(dir: string): Promise<string | undefined> {
  for (const name of RUN_FILES) {
    try {
      await Deno.lstat(join(dir, name));
      return name;
    } catch (e) {
      // A missing folder, or a file where the folder should be, holds no run.
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
    }
  }
  return undefined;
}

function taken(dir: string, file: string): RunConfigError {
  return new RunConfigError(
    `"${dir}" already holds a run (it has ${file}); a new run there would replace its ` +
      `checkpoint and mix its metrics. Continue that run with --resume ${dir}, or choose a ` +
      `new folder with --out (without --out each run gets its own runs/<model>-<timestamp>).`,
  );
}

/** Throw if `dir` holds a run: a quick check before setup; {@linkcode claimRunFolder} decides. */
export async function refuseTakenFolder(dir: string): Promise<void> {
  const file = await runFileIn(dir);
  if (file) throw taken(dir, file);
}

/** How {@linkcode claimFolder} claims a folder. */
export interface ClaimOptions {
  /**
   * Never use an existing `path`: take the first of `path-2`, `path-3`, ...
   * that does not exist yet (each created exclusively, so two claims started
   * in the same second get different folders).
   */
  unique?: boolean;
  /** Refuse an existing folder (called only for one not created by this claim). */
  refuseExisting?: (dir: string) => Promise<void>;
  /**
   * The file whose exclusive creation claims the folder: written whole
   * beside its name, then linked into place (a link fails if the name
   * exists), so it appears complete and only once. `taken` words the error
   * when another claim got there first.
   */
  file?: { name: string; content: (dir: string) => string; taken: (dir: string) => Error };
}

/**
 * Claim a folder for one run or comparison: create it (or, with `unique`, a
 * suffixed sibling) and its claiming file exclusively. The only place that
 * claims folders; returns the folder used.
 */
export async function claimFolder(path: string, options: ClaimOptions = {}): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  let out = path;
  for (let i = 2;; i++) {
    try {
      await Deno.mkdir(out); // not recursive: fails if the folder exists
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    if (options.unique) {
      out = `${path}-${i}`;
      continue;
    }
    if (!(await Deno.stat(out)).isDirectory) {
      throw new RunConfigError(`"${out}" is a file, not a folder; choose another --out`);
    }
    await options.refuseExisting?.(out);
    break;
  }
  const file = options.file;
  if (!file) return out;
  const temp = join(out, `${file.name}.tmp-${Deno.pid}-${Date.now()}`);
  await Deno.writeTextFile(temp, file.content(out));
  try {
    await Deno.link(temp, join(out, file.name));
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) throw file.taken(out);
    // The claim that won cleans the folder it locked: our temporary is gone.
    if (e instanceof Deno.errors.NotFound) throw file.taken(out);
    // A file system without hard links (FAT, some network mounts): create
    // the file exclusively instead (its content appears in one write).
    try {
      await Deno.writeTextFile(join(out, file.name), file.content(out), { createNew: true });
    } catch (e2) {
      if (e2 instanceof Deno.errors.AlreadyExists) throw file.taken(out);
      throw e2;
    }
  } finally {
    await Deno.remove(temp).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  return out;
}

/**
 * Make `path` the folder of a new run and write its `config.json`, which
 * claims it (see {@linkcode claimFolder}): of two runs started on the same
 * folder only one proceeds. An existing folder is used only if it holds no
 * run. `configFor` renders the config with the folder used in it.
 */
export function claimRunFolder(
  path: string,
  configFor: (out: string) => string,
  options: { unique?: boolean } = {},
): Promise<string> {
  return claimFolder(path, {
    unique: options.unique,
    refuseExisting: refuseTakenFolder,
    file: { name: "config.json", content: configFor, taken: (dir) => taken(dir, "config.json") },
  });
}

/**
 * Make `metrics.jsonl` agree with a checkpoint of epoch `epoch`, as a resumed
 * run needs: lines of later epochs (written before a kill that came ahead of
 * their checkpoint) and a torn last line are dropped, and `last`, the
 * checkpoint's own line, is appended if the kill came after the checkpoint but
 * before its line. Rewritten atomically, and only when something changes;
 * returns what changed, for a message.
 */
export async function reconcileMetrics(
  file: string,
  epoch: number,
  last: EpochMetrics | undefined,
): Promise<string | undefined> {
  let text = "";
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const kept: string[] = [];
  let dropped = 0, keptEpoch = 0;
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    let m: EpochMetrics | undefined;
    try {
      m = JSON.parse(line);
    } catch { /* a line torn by the kill */ }
    if (m && typeof m.epoch === "number" && m.epoch <= epoch) {
      kept.push(line);
      keptEpoch = Math.max(keptEpoch, m.epoch);
    } else dropped++;
  }
  const added = last !== undefined && last.epoch === epoch && keptEpoch < epoch;
  if (added) kept.push(JSON.stringify(last));
  if (dropped === 0 && !added) return undefined;
  await writeFileAtomic(file, kept.map((l) => l + "\n").join(""));
  return [
    dropped > 0 ? `dropped ${dropped} line(s) after epoch ${epoch} or torn` : "",
    added ? `restored the line of epoch ${epoch} from the checkpoint` : "",
  ].filter((s) => s).join("; ");
}

/** Append epoch `metrics` to the run's `metrics.jsonl` (one JSON line; a resume repairs a torn one). */
export async function appendMetrics(dir: string, metrics: EpochMetrics): Promise<void> {
  await Deno.writeTextFile(join(dir, "metrics.jsonl"), JSON.stringify(metrics) + "\n", {
    append: true,
  });
}

/** Write the run's `summary.json`, atomically: its presence means the run finished. */
export async function writeSummary(dir: string, summary: TrainSummary): Promise<void> {
  await writeFileAtomic(join(dir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
}
