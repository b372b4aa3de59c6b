// What a test can learn when a child process dies of a crash signal. A
// segfault seen once in CI (a tiny train.ts run, after its last epoch line)
// left nothing but "exit 139". With core dumps on (`.ci/run` sets `ulimit -c
// unlimited`), the kernel writes `core` or `core.PID` into the child's
// folder; gdb, where installed, turns it into backtraces, and the core
// (hundreds of MB) is removed.
import { join } from "node:path";
import { exists } from "../src/core/exists.ts";

/** Signals that mean the process crashed rather than was stopped. */
const CRASH_SIGNALS: ReadonlySet<string> = new Set([
  "SIGSEGV",
  "SIGBUS",
  "SIGABRT",
  "SIGILL",
  "SIGFPE",
]);

/** Longest backtrace text kept: CI logs show the tail of long outputs. */
const MAX_REPORT = 12_000;

/** True when `signal` (from `Deno.CommandStatus`) is a crash, not a stop. */
export function isCrash(signal: Deno.Signal | null): boolean {
  return signal !== null && CRASH_SIGNALS.has(signal);
}

/**
 * A report on a crashed child `pid` that ran in `cwd`: its signal, and the
 * backtraces of every thread when a core file and gdb are at hand (else why
 * not). Removes the core file it read.
 */
export async function crashReport(
  pid: number,
  signal: Deno.Signal,
  cwd: string,
  args: string[],
): Promise<string> {
  const head = `[harness] deno ${args.join(" ")} (pid ${pid}, in ${cwd}) died by ${signal}`;
  let core: string | undefined;
  for (const path of [join(cwd, `core.${pid}`), join(cwd, "core")]) {
    if (await exists(path)) {
      core = path;
      break;
    }
  }
  if (!core) {
    return `${head}; no core file in that folder (kernel.core_pattern ${corePattern()}; ` +
      "a core needs `ulimit -c unlimited` and a plain file pattern such as `core`)";
  }
  try {
    const gdb = await new Deno.Command("gdb", {
      args: [
        "-batch",
        "-nx",
        "-ex",
        "info threads",
        "-ex",
        "thread apply all bt 16",
        Deno.execPath(),
        core,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(gdb.stdout);
    return `${head}; gdb on its core:\n${text.slice(0, MAX_REPORT)}`;
  } catch (e) {
    return `${head}; gdb could not read its core (removed): ${(e as Error).message}`;
  } finally {
    try {
      Deno.removeSync(core);
    } catch { /* kept: the report says where */ }
  }
}

function corePattern(): string {
  try {
    return JSON.stringify(Deno.readTextFileSync("/proc/sys/kernel/core_pattern").trim());
  } catch {
    return "unknown";
  }
}
