/**
 * Small helpers for the task scripts: numeric flags that say what was wrong,
 * and one way to fail with a message and a non-zero exit code.
 *
 * @module
 */

import { type TestTimeAugmentation, TTA_MODES } from "../train/evaluate.ts";

/** An error meant for the user: printed without a stack trace. */
export class UsageError extends Error {}

/** Parse a flag value as a number in range, or throw a {@linkcode UsageError} naming the flag. */
export function numberFlag(
  name: string,
  value: string | undefined,
  options: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const bad = value.trim() === "" || !Number.isFinite(n) ||
    (options.integer && !Number.isInteger(n)) ||
    (options.min !== undefined && n < options.min) ||
    (options.max !== undefined && n > options.max);
  if (bad) {
    const kind = options.integer ? "an integer" : "a number";
    const range = options.min !== undefined ? ` >= ${options.min}` : "";
    throw new UsageError(`--${name} must be ${kind}${range}, got "${value}"`);
  }
  return n;
}

/**
 * Check a flag value against a fixed list, or throw a {@linkcode UsageError}
 * naming the flag, the choices and the value.
 */
export function choiceFlag<const C extends string>(
  name: string,
  value: string | undefined,
  choices: readonly C[],
): C | undefined {
  if (value === undefined) return undefined;
  if (!choices.includes(value as C)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got "${value}"`);
  }
  return value as C;
}

/**
 * `--tta MODE` and its shorthand `--no-tta` (= `none`) as one mode;
 * `undefined` when neither is given. Contradicting flags are an error.
 */
export function ttaFlag(
  tta: string | undefined,
  noTta: boolean | undefined,
): TestTimeAugmentation | undefined {
  if (noTta && tta !== undefined && tta !== "none") {
    throw new UsageError(`--no-tta contradicts --tta ${tta}: give one of them`);
  }
  return noTta ? "none" : choiceFlag("tta", tta, TTA_MODES);
}

/** Run a task's main: print errors as one line (stack only with DEBUG=1) and exit 1 (2 for usage). */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    const debug = (() => {
      try {
        return Deno.env.get("DEBUG") === "1";
      } catch {
        return false;
      }
    })();
    console.error(`error: ${err.message}`);
    if (debug) console.error(err.stack);
    Deno.exit(
      e instanceof UsageError ||
        (e as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
        ? 2
        : 1,
    );
  }
}

/** A timestamp for folder names: `20261126-142233`. */
export function stamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${
    p(date.getMinutes())
  }${p(date.getSeconds())}`;
}
