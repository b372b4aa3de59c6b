// The harness turns a child's crash into a report: the signal,
// and with a core file the backtraces of its threads; the core is removed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { isCrash } from "../_crash.ts";
import { ROOT, task } from "../_tasks.ts";

Deno.test("isCrash tells crashes from stops", () => {
  assert.equal(isCrash("SIGSEGV"), true);
  assert.equal(isCrash("SIGABRT"), true);
  assert.equal(isCrash("SIGKILL"), false);
  assert.equal(isCrash("SIGINT"), false);
  assert.equal(isCrash(null), false);
});

Deno.test("a child that segfaults comes back with exit 139 and a report, and leaves no core", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "crash_report_" });
  try {
    const r = await task(join(ROOT, "tests", "_segfault_child.ts"), [], { cwd });
    assert.equal(r.code, 139, r.stderr);
    assert.match(r.stderr, /\[harness\] deno .*_segfault_child\.ts .* died by SIGSEGV/);
    // With core dumps on (as in CI) the report holds gdb's backtraces; else it says why not.
    assert.match(
      r.stderr,
      /gdb on its core:[\s\S]*#0 |no core file in that folder|gdb could not read its core/,
    );
    assert.deepEqual([...Deno.readDirSync(cwd)].map((e) => e.name), []);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
