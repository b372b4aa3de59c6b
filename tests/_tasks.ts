// Running the task scripts as a user does, for tests: in their own process,
// from a chosen folder, with the exit code and both streams kept.
import { join } from "node:path";

/** The project's root folder (where deno.json is). */
export const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname);

/** What a finished task left: its exit code and output. */
export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `deno run tasks/SCRIPT args` with the permissions of the training tasks.
 * `initCwd` plays the folder `deno task` was started from; it defaults to
 * `cwd`, so a test run by `deno task test` does not hand its own down.
 */
export async function task(
  script: string,
  args: string[],
  options: { cwd?: string; initCwd?: string } = {},
): Promise<TaskResult> {
  const cwd = options.cwd ?? ROOT;
  return await spawn(
    [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--v8-flags=--no-liftoff",
      join(ROOT, "tasks", script),
      ...args,
    ],
    cwd,
    options.initCwd ?? cwd,
  );
}

/** `deno task NAME args` started from `cwd`: deno.json's own permissions and INIT_CWD. */
export async function denoTask(name: string, args: string[], cwd = ROOT): Promise<TaskResult> {
  return await spawn(["task", "--quiet", "--config", join(ROOT, "deno.json"), name, ...args], cwd);
}

async function spawn(args: string[], cwd: string, initCwd?: string): Promise<TaskResult> {
  // `deno task` keeps an INIT_CWD it inherits (as npm does), and `deno task test` sets one.
  const { INIT_CWD: _, ...env } = Deno.env.toObject();
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: initCwd ? { ...env, INIT_CWD: initCwd } : env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
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
