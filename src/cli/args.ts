/**
 * Small helpers for the task scripts: flag parsing whose errors are usage
 * errors, numeric flags that say what was wrong, paths relative to the
 * caller's folder, and one way to fail with a message and a non-zero exit code.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";

/** An error meant for the user: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}

/** What every usage error ends with, so the next step is always named. */
const HELP_HINT = "Run with --help for the flags.";

/**
 * `parseArgs` in strict mode whose errors are {@linkcode UsageError}s, and
 * which takes negative numbers as values: node's parser reads `--epochs -1`
 * as two flags and calls it ambiguous, so a dash-number after a string flag
 * is joined to it (`--epochs=-1`) and the flag's own check can say what range
 * it wants.
 */
export function parseFlags<const T extends ParseArgsConfig>(
  config: T,
): ReturnType<typeof parseArgs<T>> {
  const args = joinNegativeValues(config.args ?? [], config.options ?? {});
  let result: ReturnType<typeof parseArgs<T>>;
  try {
    result = parseArgs<T>({ ...config, args, strict: true });
    // parseArgs keeps the last of a repeated flag; a second value is more
    // likely a slip than a wish, and the first would be silently lost.
    const { tokens } = parseArgs({ ...config, args, strict: true, tokens: true });
    const seen = new Set<string>();
    for (const token of tokens ?? []) {
      if (token.kind !== "option") continue;
      if (seen.has(token.name)) {
        throw new UsageError(`--${token.name} is given more than once; give it once`);
      }
      seen.add(token.name);
    }
  } catch (e) {
    throw parseError(e) ?? e;
  }
  return result;
}

function joinNegativeValues(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") return out.concat(args.slice(i)); // everything after it is positional
    const name = a.startsWith("--") && !a.includes("=") ? a.slice(2) : undefined;
    const next = args[i + 1];
    if (
      name && options[name]?.type === "string" && next !== undefined &&
      /^-(\d|\.\d)/.test(next)
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** node:util's parse errors as one-line usage errors; anything else is left alone. */
function parseError(e: unknown): UsageError | undefined {
  const code = (e as { code?: string }).code;
  if (!code?.startsWith("ERR_PARSE_ARGS_")) return undefined;
  // node's messages span lines ("... ambiguous.\nDid you forget ..."); one line reads better.
  const message = (e as Error).message.split("\n").map((l) => l.trim()).join(" ");
  return new UsageError(`${message.replace(/\.?$/, ".")} ${HELP_HINT}`);
}

/** Bounds for {@linkcode numberFlag}; `above` and `below` are exclusive (`--lr` must be > 0). */
export interface NumberFlagOptions {
  integer?: boolean;
  min?: number;
  above?: number;
  max?: number;
  below?: number;
}

/** Parse a flag value as a number in range, or throw a {@linkcode UsageError} naming the flag. */
export function numberFlag(
  name: string,
  value: string | undefined,
  options: NumberFlagOptions = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const { integer, min, above, max, below } = options;
  const bad = value.trim() === "" || !Number.isFinite(n) ||
    (integer && !Number.isInteger(n)) ||
    (min !== undefined && n < min) || (above !== undefined && n <= above) ||
    (max !== undefined && n > max) || (below !== undefined && n >= below);
  if (bad) {
    const range = [
      min !== undefined ? `>= ${min}` : "",
      above !== undefined ? `> ${above}` : "",
      max !== undefined ? `<= ${max}` : "",
      below !== undefined ? `< ${below}` : "",
    ].filter((r) => r).join(" and ");
    const kind = integer ? "an integer" : "a number";
    throw new UsageError(`--${name} must be ${kind}${range ? ` ${range}` : ""}, got "${value}"`);
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
 * `--tta MODE` (one of `modes`) and its shorthand `--no-tta` (= `none`) as
 * one mode; `undefined` when neither is given. Contradicting flags are an
 * error.
 */
export function ttaFlag<M extends string>(
  tta: string | undefined,
  noTta: boolean | undefined,
  modes: readonly M[],
): M | "none" | undefined {
  if (noTta && tta !== undefined && tta !== "none") {
    throw new UsageError(`--no-tta contradicts --tta ${tta}: give one of them`);
  }
  return noTta ? "none" : choiceFlag("tta", tta, modes);
}

/** An environment variable, or undefined where the task may not read it (no prompt). */
function envVar(name: string): string | undefined {
  const granted = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  return granted ? Deno.env.get(name) : undefined;
}

/**
 * A path the user typed, made absolute. `deno task` runs every task in the
 * project's root, whatever folder it was started from, and passes that
 * folder as `INIT_CWD`; relative paths resolve against it, so
 * `cd docs && deno task train:vit --out relrun` writes `docs/relrun`. Without
 * `INIT_CWD` (a plain `deno run`) they resolve against the working folder.
 *
 * @example
 * ```ts
 * import { resolvePath } from "./args.ts";
 * console.log(resolvePath("/tmp/run")); // "/tmp/run": absolute paths stay as they are
 * ```
 */
export function resolvePath(path: string): string;
export function resolvePath(path: string | undefined): string | undefined;
export function resolvePath(path: string | undefined): string | undefined {
  if (path === undefined || isAbsolute(path)) return path;
  return resolve(envVar("INIT_CWD") ?? Deno.cwd(), path);
}

/**
 * `--data`, else `$CIFAR10_DIR`, resolved as {@linkcode resolvePath} does;
 * `sample` (the shipped sample) is a name, not a path. Undefined when neither
 * is given, so the caller's default applies.
 */
export function dataFlag(value: string | undefined): string | undefined {
  const data = value ?? envVar("CIFAR10_DIR");
  if (data === "sample") return data;
  const path = resolvePath(data);
  if (path !== undefined && isFile(path)) {
    throw new UsageError(
      `"${path}" is a file, not a folder: --data (or CIFAR10_DIR) names the folder that holds ` +
        `test_batch.bin and data_batch_1.bin .. data_batch_5.bin, or "sample".`,
    );
  }
  return path;
}

/** Whether `path` names an existing file that is not a folder (false where it cannot be read). */
function isFile(path: string): boolean {
  try {
    return !Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Run a task's main: print errors as one line (stack only with DEBUG=1) and
 * exit 1 (2 for usage; an error's own `exitCode`, such as 130 for a run
 * stopped by Ctrl-C, if it has one).
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    // Tasks that call parseArgs directly still get one-line usage errors and exit 2.
    const err = parseError(e) ?? (e as Error);
    const own = (err as { exitCode?: unknown }).exitCode;
    console.error(`${typeof own === "number" ? "stopped" : "error"}: ${err.message}`);
    if (envVar("DEBUG") === "1") console.error((e as Error).stack);
    Deno.exit(typeof own === "number" ? own : err instanceof UsageError ? 2 : 1);
  }
}

/** A timestamp for folder names: `20261126-142233`. */
export function stamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${
    p(date.getMinutes())
  }${p(date.getSeconds())}`;
}
