// A process that stops as the training tasks do (stopOnSignals), for tests of
// what one Ctrl-C and a second one do: it writes READY once it listens, and
// after the first signal it lingers LINGER_MS with an idle event loop (where
// copies of one signal are handled apart), then exits as a clean stop does.
// Usage: deno run --allow-write _stop_child.ts READY LINGER_MS
import { stopOnSignals } from "../src/cli/interrupt.ts";

const [ready, linger] = Deno.args;
const stop = stopOnSignals("stopping after the step under way");
stop.signal.addEventListener("abort", () => {
  setTimeout(() => {
    console.error("stopped cleanly");
    Deno.exit(stop.exitCode());
  }, Number(linger));
});
await Deno.writeTextFile(ready, "");
setInterval(() => {}, 60_000); // alive, and idle, until a signal
