/**
 * `deno task export --checkpoint PATH --out FILE`: a weights-only copy of a
 * training checkpoint (parameters and batch-norm statistics, no optimizer
 * moments: a third of the size), for shipping. `deno task eval` reads it
 * like any checkpoint; training cannot resume from it.
 */
import { parseArgs } from "node:util";
import { BACKEND_NAMES, selectBackend } from "../src/backend/select.ts";
import { choiceFlag, runMain, UsageError } from "../src/cli/args.ts";
import { disposeTree } from "../src/core/params.ts";
import { checkpointModel, readCheckpoint, saveCheckpoint } from "../src/train/checkpoint.ts";

const HELP = `Write a weights-only copy of a checkpoint.

Usage: deno task export --checkpoint PATH --out FILE.safetensors [--backend NAME]

  --backend NAME   ${BACKEND_NAMES.join(" | ")} (default cpu: export only copies tensors)
`;

async function main(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      checkpoint: { type: "string" },
      out: { type: "string" },
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
  await selectBackend(choiceFlag("backend", v.backend, BACKEND_NAMES) ?? "cpu", true);
  const ckpt = await readCheckpoint(v.checkpoint);
  const { spec, params } = checkpointModel(ckpt);
  const { optStep: _, ...run } = ckpt.header.run;
  await saveCheckpoint(v.out, params, null, run); // atomic: a failed write keeps the old file
  disposeTree(params);
  console.log(`${v.out}: ${spec.kind} ${spec.preset}, weights only`);
}

if (import.meta.main) await runMain(() => main(Deno.args));
