/**
 * `deno task export --checkpoint PATH --out FILE [--force]`: a weights-only
 * copy of a training checkpoint (parameters and batch-norm statistics, no
 * optimizer moments: a third of the size), for shipping. `deno task eval`
 * reads it like any checkpoint; training cannot resume from it, which is why
 * it never replaces its own input and replaces other files only with
 * `--force`. The copy keeps the run's config without the absolute paths of
 * the machine that trained it.
 */
import { isAbsolute, win32 } from "node:path";

import { BACKEND_NAMES, selectBackend } from "../src/backend/select.ts";
import { choiceFlag, parseFlags, resolvePath, runMain, UsageError } from "../src/cli/args.ts";
import { disposeTree } from "../src/core/params.ts";
import { checkpointModel, readCheckpoint, saveCheckpoint } from "../src/train/checkpoint.ts";
import { warnNonFinite } from "../src/train/evaluate.ts";
import type { TrainConfig } from "../src/train/config.ts";

const HELP = `Write a weights-only copy of a checkpoint.

Usage: deno task export --checkpoint PATH --out FILE.safetensors [--force] [--backend NAME]

  --force          replace an existing --out file; the checkpoint itself is never
                   replaced (a weights-only file cannot resume training)
  --backend NAME   ${BACKEND_NAMES.join(" | ")} (default cpu: export only copies tensors)
`;

/**
 * The config without string settings that are absolute paths (the data and
 * run folders of the machine that trained it): they mean nothing elsewhere
 * and say more about that machine than a shipped file should. Relative
 * paths and names such as `sample` stay. Returns the config and the keys
 * dropped.
 */
export function withoutMachinePaths(config: TrainConfig): [TrainConfig, string[]] {
  const dropped = Object.entries(config)
    .filter(([, value]) =>
      typeof value === "string" && (isAbsolute(value) || win32.isAbsolute(value))
    )
    .map(([key]) => key);
  const kept = Object.fromEntries(
    Object.entries(config).filter(([key]) => !dropped.includes(key)),
  );
  // Readers of a weights-only file (eval, compare) use only the model, the
  // preset and the tensors, so a config without its folders is safe to type
  // as a TrainConfig.
  return [kept as unknown as TrainConfig, dropped];
}

/**
 * Refuse an `--out` that is the checkpoint itself (by real path or inode, so
 * links and `./` spellings count), or any other existing file unless `force`.
 */
async function checkOut(out: string, checkpoint: string, force: boolean): Promise<void> {
  let target: Deno.FileInfo;
  try {
    target = await Deno.stat(out);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const source = await Deno.stat(checkpoint).catch(() => null); // readCheckpoint names a missing one
  const same = source !== null && (
    (await Deno.realPath(out)) === (await Deno.realPath(checkpoint)) ||
    (source.ino !== null && source.dev === target.dev && source.ino === target.ino)
  );
  if (same) {
    throw new UsageError(
      `--out "${out}" is the checkpoint itself ("${checkpoint}"): a weights-only copy over it ` +
        `would leave its run unable to resume. Choose another --out file.`,
    );
  }
  if (!force) {
    throw new UsageError(
      `--out "${out}" already exists; pass --force to replace it, or choose another file`,
    );
  }
}

async function main(args: string[]): Promise<void> {
  const { values: v } = parseFlags({
    args,
    strict: true,
    options: {
      checkpoint: { type: "string" },
      out: { type: "string" },
      force: { type: "boolean" },
      backend: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (v.help) return void console.log(HELP);
  if (!v.checkpoint || !v.out) {
    throw new UsageError("--checkpoint PATH and --out FILE are both required");
  }
  if (!v.out.endsWith(".safetensors")) {
    throw new UsageError(`--out must name a .safetensors file, got "${v.out}"`);
  }
  const checkpoint = resolvePath(v.checkpoint), out = resolvePath(v.out);
  const backend = choiceFlag("backend", v.backend, BACKEND_NAMES) ?? "cpu";
  await checkOut(out, checkpoint, v.force ?? false);
  await selectBackend(backend, true);
  const ckpt = await readCheckpoint(checkpoint);
  const { spec, params } = checkpointModel(ckpt);
  warnNonFinite(checkpoint, params);
  const { optStep: _, config, ...run } = ckpt.header.run;
  const [portable, dropped] = withoutMachinePaths(config);
  // Atomic: a failed write keeps whatever file was there.
  await saveCheckpoint(out, params, null, { config: portable, ...run });
  disposeTree(params);
  const note = dropped.length > 0 ? ` (absolute paths left out: ${dropped.join(", ")})` : "";
  console.log(`${v.out}: ${spec.kind} ${spec.preset}, weights only${note}`);
}

if (import.meta.main) await runMain(() => main(Deno.args));
