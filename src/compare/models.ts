/**
 * The models of a comparison, written `kind:preset`, and the check that its
 * CNN with self-attention and its ViT are within 5% in parameters.
 *
 * @module
 */
import type { CNNConfig } from "../models/cnn.ts";
import { type ModelKind, modelSpec, presetNames } from "../models/presets.ts";

/** The largest parameter gap, relative to the ViT, of a matched CNN-SA/ViT pair. */
export const MAX_PARAM_GAP = 0.05;

/** A model in a comparison: a kind and one of its presets, written `kind:preset`. */
export interface ModelId {
  /** Which model. */
  kind: ModelKind;
  /** One of its presets. */
  preset: string;
}

/**
 * Parse `cnn:hour,cnn:hour-noattn,vit:hour-deep` into model ids; every
 * kind and preset must exist and none may repeat.
 */
export function parseModels(text: string): ModelId[] {
  const ids = text.split(",").map((s) => s.trim());
  if (ids.some((id) => id === "")) {
    throw new Error(
      `"${text}" has an empty entry (a stray or trailing comma); write kind:preset,kind:preset`,
    );
  }
  const seen = new Set<string>();
  return ids.map((id) => {
    const [kind, preset, ...rest] = id.split(":");
    if (kind !== "cnn" && kind !== "vit" || !preset || rest.length) {
      throw new Error(`"${id}" is not a model; write kind:preset, e.g. cnn:hour or vit:hour-deep`);
    }
    if (!presetNames(kind).includes(preset)) {
      throw new Error(
        `"${id}": ${kind} has no preset "${preset}"; choose one of ${presetNames(kind).join(", ")}`,
      );
    }
    if (seen.has(id)) throw new Error(`"${id}" appears twice in the model list`);
    seen.add(id);
    return { kind, preset };
  });
}

/**
 * The parameter gap of a CNN-SA and a ViT, relative to the ViT; throws when
 * it exceeds {@linkcode MAX_PARAM_GAP}.
 */
export function checkParamGap(cnn: string, pc: number, vit: string, pv: number): number {
  const gap = Math.abs(pc - pv) / pv;
  if (gap > MAX_PARAM_GAP) {
    throw new Error(
      `${cnn} (${pc.toLocaleString("en-US")} parameters) and ${vit} (${
        pv.toLocaleString("en-US")
      }) differ by ${(100 * gap).toFixed(1)}%; a fair comparison needs ${
        100 * MAX_PARAM_GAP
      }% or less (deno task info lists every preset's size; cnn:hour matches vit:hour-deep)`,
    );
  }
  return gap;
}

/** Whether a model has self-attention layers (every ViT does). */
export function hasAttention(kind: ModelKind, preset: string): boolean {
  if (kind === "vit") return true;
  return (modelSpec(kind, preset).config as CNNConfig).stages.some((s) => s.attention);
}

/**
 * The matched pair of a set: its first CNN with self-attention and its first
 * ViT, whose parameter counts must be within {@linkcode MAX_PARAM_GAP}.
 * Throws, before anything trains, when either is missing or they are not
 * comparable.
 */
export function matchedPair(models: ModelId[]): { cnn: ModelId; vit: ModelId; gap: number } {
  const cnn = models.find((m) => m.kind === "cnn" && hasAttention(m.kind, m.preset)),
    vit = models.find((m) => m.kind === "vit");
  if (!cnn || !vit) {
    throw new Error(
      "A comparison needs a CNN with self-attention and a ViT, e.g. --models cnn:hour,vit:hour-deep",
    );
  }
  const pc = modelSpec(cnn.kind, cnn.preset).paramCount,
    pv = modelSpec(vit.kind, vit.preset).paramCount;
  const gap = checkParamGap(`cnn:${cnn.preset}`, pc, `vit:${vit.preset}`, pv);
  return { cnn, vit, gap };
}
