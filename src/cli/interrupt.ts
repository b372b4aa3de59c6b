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

/** 128 + the signal's number: the exit status of a process a signal ended. */
const EXIT_STATUS: Partial<Record<Deno.Signal, number>> = {
  SIGINT: 130,
  SIGTERM: 143,
  SIGBREAK: 149,
};

/** An abort signal tied to the process's stop signals; `dispose` stops listening. */
export interface StopOnSignals {
  /** Aborted at the first signal. */
  signal: AbortSignal;
  /** The exit status for the first signal received (130 for SIGINT, 143 for SIGTERM). */
  exitCode(): number;
  /** Remove the listeners (the process then reacts to signals as before). */
  dispose(): void;
}

/**
 * Listen for SIGINT and SIGTERM until `dispose`. The first aborts `signal`
 * and prints `notice`; the second exits at once, with 128 + its number.
 * Listeners run only when the event loop turns: a long synchronous loop must
 * await `nextMacrotask()` now and then to stay stoppable.
 */
export function stopOnSignals(notice: string): StopOnSignals {
  const controller = new AbortController();
  let first: Deno.Signal | null = null;
  const listeners = SIGNALS.map((name) => {
    const onSignal = () => {
      if (first !== null) {
        console.error("\nstopped at once; the work since the last checkpoint is lost");
        Deno.exit(EXIT_STATUS[name] ?? 130);
      }
      first = name;
      console.error(`\n${notice} (a second Ctrl-C quits at once)`);
      controller.abort();
    };
    Deno.addSignalListener(name, onSignal);
    return () => Deno.removeSignalListener(name, onSignal);
  });
  return {
    signal: controller.signal,
    exitCode: () => (first && EXIT_STATUS[first]) ?? 130,
    dispose: () => listeners.forEach((remove) => remove()),
  };
}
