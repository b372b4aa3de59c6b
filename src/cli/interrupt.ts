/**
 * Ctrl-C for long tasks: the first SIGINT (or SIGTERM) asks the task to stop
 * at its next safe point — training stops after the step under way and saves
 * a checkpoint there — and a second ends the process at once.
 *
 * @module
 */

/** The signals a stop listens for: Windows has no SIGTERM to listen to. */
const SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM"];

/** An abort signal tied to the process's stop signals; `dispose` stops listening. */
export interface StopOnSignals {
  /** Aborted at the first signal. */
  signal: AbortSignal;
  /** Remove the listeners (the process then reacts to signals as before). */
  dispose(): void;
}

/**
 * Listen for SIGINT and SIGTERM until `dispose`. The first aborts `signal`
 * and prints `notice`; the second exits with status 130 without waiting.
 */
export function stopOnSignals(notice: string): StopOnSignals {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) {
      console.error("\nstopped at once; the work since the last checkpoint is lost");
      Deno.exit(130);
    }
    console.error(`\n${notice} (a second Ctrl-C quits at once)`);
    controller.abort();
  };
  for (const s of SIGNALS) Deno.addSignalListener(s, onSignal);
  return {
    signal: controller.signal,
    dispose: () => SIGNALS.forEach((s) => Deno.removeSignalListener(s, onSignal)),
  };
}
