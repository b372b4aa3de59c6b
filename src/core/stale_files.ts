/**
 * Leftovers of killed processes: a temporary file that `writeFileAtomic`
 * had not yet renamed (`NAME.tmp-PID-MS`), or a half-extracted archive
 * (`data.partial-PID`). Each name carries its writer's process id, so a
 * leftover is stale once that process is gone.
 *
 * @module
 */
import { join } from "node:path";

/** Where `/proc` is missing (macOS, Windows), a leftover this old is stale whatever its pid. */
const STALE_AFTER_MS = 60 * 60 * 1000;

/**
 * Whether process `pid` may still be writing. Our own pid counts as dead:
 * callers clean before they write, so a leftover under our pid was left by
 * an earlier process that had the same id. Linux answers through `/proc`,
 * but Deno refuses `/proc` to every program without `--allow-all` (Deno
 * 2.9: `NotCapable` even with `--allow-read`), and `Deno.kill(pid, 0)` would
 * need `--allow-run`; so for the tasks the answer is "unknown" and the age
 * decides. (Run folders do not rely on this: see `train/run_lock.ts`.)
 */
export function processMayBeAlive(pid: number): boolean | "unknown" {
  if (pid === Deno.pid) return false;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    try {
      Deno.statSync("/proc/self");
      return false; // /proc works here, and has no such process
    } catch {
      return "unknown";
    }
  }
}

/** Options of {@linkcode removeStaleFiles}. */
export interface RemoveStaleOptions {
  /**
   * The caller holds `dir`'s lock (a run folder's `train.lock`), so no other
   * process writes there: every match is stale, whatever its writer's pid.
   * Without it, a writer whose liveness cannot be told (no `/proc`) is judged
   * by the file's age.
   */
  folderLocked?: boolean;
}

/**
 * Remove the entries of `dir` whose name matches `pattern` (its first group
 * is the writer's pid) and whose writer is gone; returns the removed names.
 * A missing `dir` has nothing to clean.
 *
 * @example
 * ```ts
 * import { removeStaleFiles } from "./stale_files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json.tmp-${Deno.pid}-1`, "{");
 * console.log(await removeStaleFiles(dir, /\.tmp-(\d+)-\d+$/)); // ["config.json.tmp-…-1"]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removeStaleFiles(
  dir: string,
  pattern: RegExp,
  options: RemoveStaleOptions = {},
): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  for (const entry of entries) {
    const pid = entry.name.match(pattern)?.[1];
    if (pid === undefined) continue;
    const path = join(dir, entry.name);
    let alive = options.folderLocked ? false : processMayBeAlive(Number(pid));
    if (alive === "unknown") {
      const mtime = (await Deno.lstat(path)).mtime?.getTime() ?? Date.now();
      alive = Date.now() - mtime < STALE_AFTER_MS;
    }
    if (alive) continue;
    await Deno.remove(path, { recursive: true });
    removed.push(entry.name);
  }
  return removed;
}

/** `writeFileAtomic`'s temporary files (`NAME.tmp-PID-MILLISECONDS`). */
export const ATOMIC_TEMP: RegExp = /\.tmp-(\d+)-\d+$/;
