/**
 * One process per run folder. A process training in a folder holds an
 * exclusive OS lock (`flock`; `LockFileEx` on Windows) on its `train.lock`;
 * a second process that would resume or restart the same run is refused
 * while the first lives, so two trainings never write one checkpoint. The
 * OS drops the lock when its process ends, however it ends (a kill, a
 * crash), so there is no stale lock to clean up; the file's text only names
 * the holder for the error message. (Process ids are no help here: Deno
 * refuses `/proc` to programs without `--allow-all`.)
 *
 * @module
 */
import { join, resolve } from "node:path";

/** The lock's file name inside a run folder. */
export const LOCK_FILE = "train.lock";

/** What a lock file says about its holder. */
export interface LockHolder {
  /** The process training in the folder. */
  pid: number;
  /** When it took the lock (ISO 8601). */
  started: string;
}

/** The run folder is being trained by another live process. */
export class RunLockedError extends Error {
  /** The run folder. */
  readonly dir: string;
  /** The process that holds it, as its lock file says (null where that cannot be read). */
  readonly holder: LockHolder | null;
  /**
   * The error for `dir`, naming its holder.
   *
   * @param dir the run folder
   * @param holder the process that holds it
   */
  constructor(dir: string, holder: LockHolder | null) {
    super(
      `${dir} is being trained by ${
        holder ? `process ${holder.pid} (since ${holder.started})` : "another process"
      }; wait for it to finish or stop it first`,
    );
    this.dir = dir;
    this.holder = holder;
  }
}

/** A held lock. */
export interface RunLock {
  /** Let go of the folder and remove the lock file (a second call does nothing). */
  release(): Promise<void>;
}

/** Folders this process holds (resolved paths), each with its open, locked file. */
const held = new Map<string, Deno.FsFile | "taking">();

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

/**
 * Take `dir`'s lock (the folder must exist). Throws {@linkcode RunLockedError}
 * while another holder has it: another live process, or another caller in
 * this one (the lock excludes callers, so two comparisons in one process do
 * not train one run twice; a caller that holds it passes that on instead,
 * as `compare` does to `train` with `lockHeld`).
 *
 * @example
 * ```ts
 * import { lockRun } from "./run_lock.ts";
 * const dir = await Deno.makeTempDir();
 * const lock = await lockRun(dir);
 * // ... train in dir ...
 * await lock.release();
 * await Deno.remove(dir);
 * ```
 */
export async function lockRun(dir: string): Promise<RunLock> {
  const path = join(dir, LOCK_FILE), key = resolve(dir);
  if (held.has(key)) {
    throw new RunLockedError(dir, { pid: Deno.pid, started: "earlier, in this process" });
  }
  held.set(key, "taking"); // before any await: a concurrent call in this process sees it
  try {
    const file = await takeFile(dir, path);
    held.set(key, file);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        held.delete(key);
        try {
          await Deno.remove(path); // while still locked: no one can take a file on its way out
        } catch {
          // Gone already, or Windows, which keeps open files: an unlocked lock
          // file left behind is harmless (the next taker locks it).
        } finally {
          file.close(); // closing drops the OS lock
        }
      },
    };
  } catch (e) {
    held.delete(key);
    throw e;
  }
}

/** Open and lock `path`, write this process as its holder; returns the open file. */
async function takeFile(dir: string, path: string): Promise<Deno.FsFile> {
  for (let attempt = 0; attempt < 5; attempt++) {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true, create: true });
    } catch (e) {
      // Windows refuses to open a file that its holder is deleting.
      if (e instanceof Deno.errors.PermissionDenied) throw new RunLockedError(dir, null);
      throw e;
    }
    if (!(await file.tryLock(true))) {
      file.close();
      throw new RunLockedError(dir, await readHolder(path));
    }
    // A holder that released removed the file after we opened it: our lock is
    // on an unlinked file that nobody else will see. Open the path again.
    let current: Deno.FileInfo | null = null;
    try {
      current = await Deno.stat(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (!current || !sameFile(current, await file.stat())) {
      file.close();
      continue;
    }
    await file.truncate(0);
    const holder: LockHolder = { pid: Deno.pid, started: new Date().toISOString() };
    await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
    return file;
  }
  throw new Error(`${path} keeps changing: is another process starting this run right now?`);
}

async function readHolder(path: string): Promise<LockHolder | null> {
  try {
    const h = JSON.parse(await Deno.readTextFile(path));
    return Number.isInteger(h?.pid) && typeof h?.started === "string" ? h : null;
  } catch {
    return null; // being written, or gone
  }
}
