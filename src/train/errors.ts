/**
 * The errors a run ends with, in a leaf module: settings code that browsers
 * load, the checkpoint and the loop all throw them without importing each
 * other.
 *
 * @module
 */

/**
 * A run's settings cannot work as given (a folder taken, a batch larger than
 * the data, a checkpoint that does not fit); nothing was written.
 */
export class RunConfigError extends Error {
  /** An error whose message says what was wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "RunConfigError";
  }
}

/**
 * Training stopped early on request (a signal, say) after saving a
 * checkpoint that resumes where it stopped. `dir` is the run folder.
 */
export class RunInterruptedError extends Error {
  /** The run (or comparison) folder that resumes. */
  readonly dir: string;
  /**
   * The status a command-line task ends with: 128 + the signal's number
   * (130 for SIGINT, 143 for SIGTERM).
   */
  readonly exitCode: number;
  /** A stop of the run in `dir`, with the exit status its task should end with. */
  constructor(dir: string, message: string, exitCode = 130) {
    super(message);
    this.name = "RunInterruptedError";
    this.dir = dir;
    this.exitCode = exitCode;
  }
}

/** The loss (or the gradient norm) stopped being finite; the last good checkpoint is kept. */
export class NonFiniteLossError extends Error {
  /** An error whose message says where it happened and what is kept. */
  constructor(message: string) {
    super(message);
    this.name = "NonFiniteLossError";
  }
}
