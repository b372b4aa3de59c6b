// A run folder held by another process, for tests.
import assert from "node:assert/strict";

const MODULE = new URL("../src/train/run_lock.ts", import.meta.url).href;

/**
 * Another deno process that takes `dir`'s lock and keeps it until killed;
 * or, with `finish`, until the file `finish.when` appears, when it copies
 * the files of `finish.from` into `dir` (a run it "trained") and lets go.
 */
export async function holdInAnotherProcess(
  dir: string,
  finish?: { when: string; from: string },
) {
  const then = finish
    ? `while (!(await Deno.stat(${JSON.stringify(finish.when)}).then(() => true, () => false))) {
         await new Promise((r) => setTimeout(r, 20));
       }
       for (const e of Deno.readDirSync(${JSON.stringify(finish.from)})) {
         Deno.copyFileSync(${JSON.stringify(finish.from)} + "/" + e.name, ${
      JSON.stringify(dir)
    } + "/" + e.name);
       }
       await lock.release();`
    : `await new Promise((r) => setTimeout(r, 120_000));`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const { lockRun } = await import(${JSON.stringify(MODULE)});
       const lock = await lockRun(${JSON.stringify(dir)});
       console.log("locked");
       ${then}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value).trim(), "locked");
  reader.releaseLock();
  return {
    pid: child.pid,
    kill: async () => {
      try {
        child.kill("SIGKILL"); // as a crash would: no chance to clean up
      } catch { /* it finished on its own */ }
      await child.status;
      await child.stdout.cancel();
    },
  };
}
