// Running the task scripts as a user does, for tests: in their own process,
// from a chosen folder, with the exit code and both streams kept; and a small
// real checkpoint to point them at.
import { isAbsolute, join } from "node:path";
import { crashReport, isCrash } from "./_crash.ts";
import { disposeTree, splitBuffers } from "../src/core/params.ts";
import { Rng } from "../src/core/rng.ts";
import { modelSpec } from "../src/models/presets.ts";
import { initAdamW } from "../src/train/adamw.ts";
import { type RunState, saveCheckpoint } from "../src/train/checkpoint.ts";
import { defaultConfig, type TrainConfig } from "../src/train/config.ts";

/** The project's root folder (where deno.json is). */
export const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname);

/** What a finished task left: its exit code and output. */
export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The permissions of the training tasks. */
export const TASK_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
];

/** How {@linkcode task} runs a script. */
export interface TaskOptions {
  /** The folder it runs in (default: the project root). */
  cwd?: string;
  /** The folder `deno task` was started from (INIT_CWD); defaults to `cwd`. */
  initCwd?: string;
  /** Variables added to the environment. */
  env?: Record<string, string>;
  /** Variables taken out of the environment (e.g. XDG_RUNTIME_DIR, as on a bare CI machine). */
  unsetEnv?: string[];
  /** Permission flags instead of {@linkcode TASK_PERMISSIONS}. */
  permissions?: readonly string[];
}

/**
 * `deno run SCRIPT args` as a user runs it: in its own process, with the
 * permissions of the training tasks; `script` is a file in `tasks/` or an
 * absolute path. `initCwd` defaults to `cwd`, so a test run by
 * `deno task test` does not hand its own down.
 */
export async function task(
  script: string,
  args: string[],
  options: TaskOptions = {},
): Promise<TaskResult> {
  const cwd = options.cwd ?? ROOT;
  return await spawn(
    [
      "run",
      ...(options.permissions ?? TASK_PERMISSIONS),
      "--v8-flags=--no-liftoff",
      isAbsolute(script) ? script : join(ROOT, "tasks", script),
      ...args,
    ],
    cwd,
    options.initCwd ?? cwd,
    options,
  );
}

/** `deno task NAME args` started from `cwd`: deno.json's own permissions and INIT_CWD. */
export async function denoTask(
  name: string,
  args: string[],
  cwd = ROOT,
  env: Record<string, string> = {},
): Promise<TaskResult> {
  return await spawn(
    ["task", "--quiet", "--config", join(ROOT, "deno.json"), name, ...args],
    cwd,
    undefined,
    { env },
  );
}

async function spawn(
  args: string[],
  cwd: string,
  initCwd?: string,
  options: Pick<TaskOptions, "env" | "unsetEnv"> = {},
): Promise<TaskResult> {
  // `deno task` keeps an INIT_CWD it inherits (as npm does), and `deno task test` sets one.
  const { INIT_CWD: _, ...env } = Deno.env.toObject();
  for (const name of options.unsetEnv ?? []) delete env[name];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { ...env, ...(initCwd ? { INIT_CWD: initCwd } : {}), ...options.env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  const d = new TextDecoder();
  let stderr = d.decode(out.stderr);
  if (isCrash(out.signal)) {
    // Printed as well as returned: a test may check the code without showing stderr.
    const report = await crashReport(child.pid, out.signal!, cwd, args);
    console.error(report);
    stderr += `\n${report}`;
  }
  return { code: out.code, stdout: d.decode(out.stdout), stderr };
}

/** Flags for a run of a few seconds: tiny ViT, 64 sample images, 2 steps, 20 test images. */
export const TINY: string[] = [
  "--preset",
  "tiny",
  "--data",
  "sample",
  "--epochs",
  "1",
  "--train-size",
  "64",
  "--test-size",
  "20",
  "--batch-size",
  "32",
  "--tta",
  "none",
];

/** {@linkcode TINY} with some values replaced (a flag may be given only once), e.g. `{ epochs: "3" }`. */
export function tinyWith(values: Record<string, string>): string[] {
  const flags = [...TINY];
  for (const [name, value] of Object.entries(values)) {
    const i = flags.indexOf(`--${name}`);
    if (i < 0) flags.push(`--${name}`, value);
    else flags[i + 1] = value;
  }
  return flags;
}

/** The id of a process that has exited (so none has it now, barring reuse within moments). */
export async function deadPid(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), { args: ["eval", ""] }).spawn();
  await child.status;
  return child.pid;
}

/** A copy of a run folder, so a test may change it. */
export async function copyRun(from: string, to: string): Promise<string> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
  return to;
}

/**
 * Write `dir/checkpoint.safetensors` as training would: a freshly initialised
 * tiny CNN with zero AdamW moments, its config changed by `config`.
 */
export async function tinyCheckpoint(
  dir: string,
  config: Partial<TrainConfig> = {},
): Promise<string> {
  const spec = modelSpec("cnn", "tiny");
  const params = spec.init(new Rng(0));
  const opt = initAdamW(splitBuffers(params).trainable);
  const run: RunState = {
    config: { ...defaultConfig("cnn"), preset: "tiny", out: dir, ...config },
    epoch: 1,
    step: 3,
    rng: new Rng(1).state,
    bestTestAccuracy: 0.1,
    trainSeconds: 1,
  };
  const path = join(dir, "checkpoint.safetensors");
  await saveCheckpoint(path, params, { ...opt, step: 3 }, run);
  [params, opt.m, opt.v].forEach(disposeTree);
  return path;
}

/** Whether `path` exists, synchronously (for polls in timers); `exists` in src/core is the async one. */
export function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
