/**
 * The environment for a child process that loads no native library of its
 * own (`deno bundle`), less the dynamic loader's variables (`LD_*`, `DYLD_*`).
 * Deno refuses to pass those to a child unless `--allow-run` is unrestricted
 * ("Requires --allow-run permissions to spawn subprocess with
 * LD_LIBRARY_PATH"), and CUDA machines set `LD_LIBRARY_PATH` as a rule: with
 * it, a task granted `--allow-run=<deno>` alone could not start its child.
 *
 * @module
 */

/** A loader variable Deno keeps from children under a restricted `--allow-run`. */
export function isLoaderVariable(name: string): boolean {
  return /^(LD_|DYLD_)/.test(name);
}

/** `Deno.env` without the loader's variables, for a `Deno.Command` with `clearEnv: true`. */
export function envWithoutLoaderVariables(
  env: Record<string, string> = Deno.env.toObject(),
): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !isLoaderVariable(name)));
}
