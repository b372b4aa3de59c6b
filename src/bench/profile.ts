/**
 * Where one training step's time goes: each kernel's calls and milliseconds
 * (see {@linkcode timeKernels}) and the time outside kernels: tfjs's engine
 * (tensor bookkeeping, the gradient tape), our JavaScript between kernels,
 * the host-side AdamW, the batch's augmentation and upload.
 *
 * @module
 */
import { type KernelStat, timeKernels } from "./kernel_timer.ts";
import type { ModelSpec } from "../models/presets.ts";
import { trainingSteps } from "./measure.ts";

/** One kernel's (or kernel and shape's) share of a step, averaged over the profiled steps. */
export interface KernelShare extends KernelStat {
  /** Fraction of the step's wall-clock time. */
  share: number;
}

/** A profile of training steps, per step (averaged over `steps`). */
export interface StepProfile {
  model: string;
  preset: string;
  backend: string;
  batchSize: number;
  steps: number;
  /** Wall-clock milliseconds per step: kernels plus outside. */
  stepMs: number;
  kernelMs: number;
  outsideMs: number;
  /** Kernel calls per step. */
  kernelCalls: number;
  /** Slowest first. */
  kernels: KernelShare[];
}

/**
 * Profile `steps` training steps of `spec` at `batchSize` after `warmup`
 * unprofiled ones, with the step the bench measures (the training loop's
 * step on augmented real images).
 */
export async function profileSteps(
  spec: ModelSpec,
  backend: string,
  options: { batchSize: number; steps: number; warmup?: number; byShape?: boolean },
): Promise<StepProfile> {
  const stepper = await trainingSteps(spec, { batchSize: options.batchSize });
  let stats: KernelStat[];
  let stepMs = 0;
  try {
    for (let i = 0; i < (options.warmup ?? 2); i++) await stepper.step();
    const timer = timeKernels({ byShape: options.byShape });
    try {
      for (let i = 0; i < options.steps; i++) stepMs += await stepper.step();
    } finally {
      stats = timer.stop();
    }
  } finally {
    await stepper.dispose();
  }
  const n = options.steps;
  stepMs /= n;
  const kernels = stats.map((s) => ({
    name: s.name,
    count: s.count / n,
    ms: s.ms / n,
    share: s.ms / n / stepMs,
  }));
  const kernelMs = kernels.reduce((s, k) => s + k.ms, 0);
  return {
    model: spec.kind,
    preset: spec.preset,
    backend,
    batchSize: options.batchSize,
    steps: n,
    stepMs,
    kernelMs,
    outsideMs: stepMs - kernelMs,
    kernelCalls: kernels.reduce((s, k) => s + k.count, 0),
    kernels,
  };
}

/** The profile as a table: the `top` slowest kernels, the rest, and the time outside kernels. */
export function formatProfile(p: StepProfile, top = 15): string {
  const width = Math.max(24, ...p.kernels.slice(0, top).map((k) => k.name.length));
  const row = (name: string, count: string, ms: number) =>
    `${name.padEnd(width)} ${count.padStart(7)} ${ms.toFixed(1).padStart(9)} ${
      (100 * ms / p.stepMs).toFixed(1).padStart(6)
    }%`;
  const rest = p.kernels.slice(top);
  const lines = [
    `${p.model} ${p.preset}, batch ${p.batchSize}, ${p.backend}: ${
      p.stepMs.toFixed(0)
    } ms per step ` +
    `(${(p.batchSize * 1000 / p.stepMs).toFixed(1)} images/s), ${Math.round(p.kernelCalls)} ` +
    `kernel calls, mean of ${p.steps} steps`,
    `${"kernel".padEnd(width)} ${"calls".padStart(7)} ${"ms".padStart(9)} ${"share".padStart(7)}`,
    ...p.kernels.slice(0, top).map((k) => row(k.name, fmtCount(k.count), k.ms)),
  ];
  if (rest.length > 0) {
    lines.push(
      row(
        `(${rest.length} other kernels)`,
        fmtCount(rest.reduce((s, k) => s + k.count, 0)),
        rest.reduce((s, k) => s + k.ms, 0),
      ),
    );
  }
  lines.push(
    row("all kernels", fmtCount(p.kernelCalls), p.kernelMs),
    row("outside kernels", "", p.outsideMs),
  );
  return lines.join("\n");
}

/** Calls per step: whole numbers stay whole. */
function fmtCount(c: number): string {
  return Number.isInteger(c) ? String(c) : c.toFixed(1);
}
