/**
 * Training progress: a one-line bar redrawn in place on a terminal, plain
 * periodic lines otherwise (logs, CI).
 *
 * @module
 */

/** What one update shows. */
export interface ProgressInfo {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  /** Seconds left in the run, if known. */
  etaSeconds: number;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(s % 60).padStart(2, "0")}s`;
}

/** Format one progress line (without a bar). */
export function formatProgress(p: ProgressInfo): string {
  return `epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${
    p.loss.toFixed(4)
  } ` +
    `acc ${(100 * p.accuracy).toFixed(1)}% ${p.imagesPerSecond.toFixed(0)} img/s ETA ${
      clock(p.etaSeconds)
    }`;
}

/**
 * Writes progress to stderr: a bar on a terminal, a line every `everySeconds`
 * otherwise; nothing when `silent`.
 */
export class Progress {
  #silent: boolean;
  #tty: boolean;
  #last = 0;
  #everyMs: number;
  #encoder = new TextEncoder();

  constructor(options: { tty?: boolean; everySeconds?: number; silent?: boolean } = {}) {
    this.#silent = options.silent ?? false;
    this.#tty = options.tty ?? Deno.stderr.isTerminal();
    this.#everyMs = (options.everySeconds ?? 30) * 1000;
  }

  /** Show `p`; on a non-terminal, only every `everySeconds` or at an epoch's end. */
  update(p: ProgressInfo): void {
    if (this.#silent) return;
    if (this.#tty) {
      const width = 20, done = Math.round((width * p.step) / p.stepsPerEpoch);
      const bar = "#".repeat(done) + "-".repeat(width - done);
      Deno.stderr.writeSync(
        this.#encoder.encode(`\r\x1b[K[${bar}] ${formatProgress(p)}`),
      );
      return;
    }
    const now = performance.now();
    if (now - this.#last >= this.#everyMs || p.step === p.stepsPerEpoch) {
      this.#last = now;
      console.error(formatProgress(p));
    }
  }

  /** End the current bar line (before printing anything else). */
  done(): void {
    if (this.#tty && !this.#silent) Deno.stderr.writeSync(this.#encoder.encode("\n"));
  }
}
