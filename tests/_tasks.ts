// Run a task script as a user does (`deno run tasks/NAME.ts ...`), for tests
// of exit codes and messages; and a small real checkpoint to point it at.
import { join } from "node:path";
import { disposeTree, splitBuffers } from "../src/core/params.ts";
import { Rng } from "../src/core/rng.ts";
import { modelSpec } from "../src/models/presets.ts";
import { initAdamW } from "../src/train/adamw.ts";
import { type RunState, saveCheckpoint } from "../src/train/checkpoint.ts";
import { defaultConfig, type TrainConfig } from "../src/train/config.ts";

/** What a task printed and how it exited. */
export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `tasks/<script>` with the permissions the deno.json tasks grant. */
export async function runTask(script: string, ...args: string[]): Promise<TaskResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      `tasks/${script}`,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
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
