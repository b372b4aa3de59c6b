// One process per run folder: the OS lock on train.lock, dropped when its
// process ends however it ends, and what compare() does with a held run.
import assert from "node:assert/strict";
import { join } from "node:path";
import { LOCK_FILE, lockRun, RunLockedError } from "../../src/train/run_lock.ts";
import { holdInAnotherProcess } from "../_lock_holder.ts";
import { task, tinyCheckpoint } from "../_tasks.ts";

Deno.test("lockRun(): held until released, also against callers in this process, then free", async () => {
  const dir = await Deno.makeTempDir(), path = join(dir, LOCK_FILE);
  const lock = await lockRun(dir);
  assert.equal(JSON.parse(await Deno.readTextFile(path)).pid, Deno.pid);
  await assert.rejects(
    lockRun(dir),
    /being trained by process \d+ \(since earlier, in this process\)/,
  );
  await lock.release();
  await lock.release(); // twice is once
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  // Two callers at once in one process: exactly one gets it.
  const both = await Promise.allSettled([lockRun(dir), lockRun(join(dir, "."))]);
  assert.deepEqual(both.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
  for (const r of both) if (r.status === "fulfilled") await r.value.release();
  await (await lockRun(dir)).release(); // and it can be taken again
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lockRun(): another live process's lock refuses, naming it; once that process is killed the folder is free", async () => {
  const dir = await Deno.makeTempDir();
  const other = await holdInAnotherProcess(dir);
  try {
    await assert.rejects(lockRun(dir), (e: unknown) => {
      assert.ok(e instanceof RunLockedError);
      assert.equal(e.holder?.pid, other.pid);
      assert.match(e.message, new RegExp(`being trained by process ${other.pid} \\(since `));
      return true;
    });
  } finally {
    await other.kill();
  }
  // Killed without releasing: its lock file is still there, its OS lock is not.
  assert.ok(await Deno.stat(join(dir, LOCK_FILE)));
  const lock = await lockRun(dir);
  assert.equal(JSON.parse(await Deno.readTextFile(join(dir, LOCK_FILE))).pid, Deno.pid);
  await lock.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train --resume of a run another process is training: exit 2, its checkpoint untouched", async () => {
  const run = await Deno.makeTempDir();
  await tinyCheckpoint(run, { data: "sample" });
  const before = Deno.readFileSync(join(run, "checkpoint.safetensors"));
  const other = await holdInAnotherProcess(run);
  try {
    const r = await task("train.ts", ["cnn", "--resume", run]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`being trained by process ${other.pid}`));
    assert.deepEqual(Deno.readFileSync(join(run, "checkpoint.safetensors")), before);
  } finally {
    await other.kill();
  }
  await Deno.remove(run, { recursive: true });
});
