// A run folder held by another process, for tests.
import assert from "node:assert/strict";

const MODULE = new URL("../src/train/run_lock.ts", import.meta.url).href;

/** Another deno process that takes `dir`'s lock and keeps it until killed. */
export async function holdInAnotherProcess(dir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const { lockRun } = await import(${JSON.stringify(MODULE)});
       await lockRun(${JSON.stringify(dir)});
       console.log("locked");
       await new Promise((r) => setTimeout(r, 120_000));`,
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
      child.kill("SIGKILL"); // as a crash would: no chance to clean up
      await child.status;
      await child.stdout.cancel();
    },
  };
}
