/**
 * `deno task info`: each preset's exact parameter count and forward FLOPs
 * per image, for both models. `--json` prints one JSON array.
 */
import { parseFlags, runMain } from "../src/cli/args.ts";
import { KIND_PRESET_NAMES, modelSpec, PRESET_NAMES } from "../src/models/presets.ts";

/** One row per model and preset. */
export function presetTable(): {
  model: string;
  preset: string;
  params: number;
  mflopsPerImage: number;
}[] {
  const row = (model: "cnn" | "vit", preset: string) => {
    const spec = modelSpec(model, preset);
    return {
      model,
      preset,
      params: spec.paramCount,
      mflopsPerImage: Math.round(spec.flops / 1e5) / 10,
    };
  };
  return [
    ...PRESET_NAMES.flatMap((preset) => (["cnn", "vit"] as const).map((m) => row(m, preset))),
    ...(["cnn", "vit"] as const).flatMap((m) => KIND_PRESET_NAMES[m].map((p) => row(m, p))),
  ];
}

function main(args: string[]): Promise<void> {
  const { values } = parseFlags({
    args,
    options: { json: { type: "boolean" }, help: { type: "boolean" } },
  });
  if (values.help) {
    console.log(
      "Parameter count and forward MFLOPs per image of every preset, both models.\n\n" +
        "Usage: deno task info [--json]\n\n  --json   one JSON array instead of a table\n" +
        "  --help   this text",
    );
    return Promise.resolve();
  }
  const rows = presetTable();
  if (values.json) {
    console.log(JSON.stringify(rows));
    return Promise.resolve();
  }
  console.log("| preset | model | parameters | forward MFLOPs / image |");
  console.log("|---|---|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.preset} | ${r.model} | ${r.params.toLocaleString("en-US")} | ${
        r.mflopsPerImage.toFixed(1)
      } |`,
    );
  }
  return Promise.resolve();
}

if (import.meta.main) await runMain(() => main(Deno.args));
