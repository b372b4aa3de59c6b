/**
 * A small seeded random number generator whose whole state is one 32-bit
 * integer, so it can be saved in a checkpoint and resumed bit for bit.
 *
 * @module
 */

/**
 * Seeded generator (mulberry32) with uniform, normal and integer draws.
 *
 * @example
 * ```ts
 * import { Rng } from "@vision-attention/sa";
 * const a = new Rng(42);
 * const b = Rng.fromState(a.state); // e.g. restored from a checkpoint
 * console.assert(a.uniform() === b.uniform() && a.int(10) === b.int(10));
 * ```
 */
export class Rng {
  #state: number;
  #spare: number | null = null;

  /** Start from `seed` (any integer). */
  constructor(seed: number) {
    // The state is 32 bits: a negative, fractional or larger seed would
    // silently alias another one.
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`Rng: the seed must be a whole number from 0 to 2^32-1, got ${seed}`);
    }
    this.#state = seed;
  }

  /** The state to save; `Rng.fromState` restores it exactly. */
  get state(): { s: number; spare: number | null } {
    return { s: this.#state, spare: this.#spare };
  }

  /** Restore a generator saved with `state`. */
  static fromState(state: { s: number; spare: number | null }): Rng {
    const r = new Rng(state.s);
    r.#spare = state.spare;
    return r;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller, caching the second draw). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A child generator with an independent stream, derived from this one. */
  fork(): Rng {
    return new Rng((this.nextUint32() ^ 0x9e3779b9) >>> 0);
  }

  /** Fisher-Yates shuffle of `0..n-1`. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
