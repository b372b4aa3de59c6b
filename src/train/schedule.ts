/**
 * Learning-rate schedule: linear warmup, then cosine decay (Loshchilov &
 * Hutter 2017) to `minLr`.
 *
 * @module
 */

/** Schedule settings. */
export interface ScheduleConfig {
  /** Learning rate at the end of warmup. */
  peakLr: number;
  /** Steps of linear warmup. */
  warmupSteps: number;
  /** Steps of the whole run; the cosine reaches `minLr` there. */
  totalSteps: number;
  /** Floor of the cosine; default 0. */
  minLr?: number;
}

/**
 * Learning rate at `step` (0-based).
 *
 * @example
 * ```ts
 * import { learningRate } from "./schedule.ts";
 * const s = { peakLr: 1e-3, warmupSteps: 10, totalSteps: 100 };
 * console.assert(learningRate(s, 9) === 1e-3);
 * ```
 */
export function learningRate(s: ScheduleConfig, step: number): number {
  const minLr = s.minLr ?? 0;
  if (step < s.warmupSteps) return (s.peakLr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / span);
  return minLr + 0.5 * (s.peakLr - minLr) * (1 + Math.cos(Math.PI * t));
}
