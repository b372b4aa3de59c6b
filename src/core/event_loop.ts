/**
 * Giving the event loop a turn inside long computations.
 *
 * @module
 */

/**
 * Resolves after one macrotask, so timers and signal listeners (Ctrl-C) run.
 * On the CPU backends a training step awaits only promises that are already
 * resolved, which run as microtasks and never let a listener in; a loop that
 * must stay stoppable awaits this once per step (about a millisecond).
 */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
