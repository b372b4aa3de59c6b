/**
 * Ctrl-C for long tasks: the first SIGINT (or SIGTERM) asks the task to stop
 * at its next safe point — training stops after the step under way and saves
 * a checkpoint there — and a second ends the process at once.
 *
 * One Ctrl-C can arrive more than once. A terminal sends SIGINT to the whole
 * foreground process group, so under `deno task` both `deno task` and the
 * task's process get it, and `deno task` forwards what it gets to its child
 * (Deno 2.9 sends it twice): the task's process sees up to three SIGINTs
 * within a millisecond or so for one key press. Signals that come before
 * {@linkcode REPEAT_GRACE_MS} has passed since the first are therefore taken
 * as copies of it, not as a second Ctrl-C.
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

/**
 * Milliseconds after the first signal during which further signals count as
 * copies of it (see the module's notes): far longer than a copy takes to
 * arrive, shorter than a person takes to read the notice and press again.
 */
export const REPEAT_GRACE_MS = 500;

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
 * and prints `notice`; a later one, once {@linkcode REPEAT_GRACE_MS} has
 * passed, exits at once with 128 + its number. Listeners run only when the
 * event loop turns: a long synchronous loop must await `nextMacrotask()` now
 * and then to stay stoppable.
 *
 * The grace period ends with a timer, not a clock reading: a signal that
 * arrived while the event loop was blocked is handled before timers that ran
 * out meanwhile, so copies of the first signal that wait out a long
 * synchronous stretch are still recognised as copies. (A second Ctrl-C
 * pressed during such a stretch is taken as a copy too; a third quits.)
 */
export function stopOnSignals(notice: string): StopOnSignals {
  const controller = new AbortController();
  let first: Deno.Signal | null = null;
  let armed = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const listeners = SIGNALS.map((name) => {
    const onSignal = () => {
      if (first === null) {
        first = name;
        const timer = setTimeout(() => {
          armed = true;
        }, REPEAT_GRACE_MS);
        Deno.unrefTimer(timer); // the stop itself decides when the process ends
        grace = timer;
        console.error(`\n${notice} (a second Ctrl-C quits at once)`);
        controller.abort();
      } else if (armed) {
        console.error("\nstopped at once; the work since the last checkpoint is lost");
        Deno.exit(EXIT_STATUS[name] ?? 130);
      }
      // Otherwise a copy of the first signal (see the module's notes): nothing to do.
    };
    Deno.addSignalListener(name, onSignal);
    return () => Deno.removeSignalListener(name, onSignal);
  });
  return {
    signal: controller.signal,
    exitCode: () => (first && EXIT_STATUS[first]) ?? 130,
    dispose: () => {
      clearTimeout(grace);
      listeners.forEach((remove) => remove());
    },
  };
}
