// AssemblyScript, not Deno TypeScript: SIMD kernels for the fast CPU path,
// compiled by `deno task build:wasm` into src/backend/cpu/simd_module.ts. The
// module imports tfjs-backend-wasm's own memory, so every pointer here is a
// byte offset into that heap and the kernels read and write tensors in place.
// It must keep no static data (no strings, arrays or globals with
// initialisers): a data segment would be written into tfjs's heap.
//
// Each kernel handles any size: a 4-wide SIMD body and a scalar tail.

// ---- constants: a table in the heap, not v128.const in loops
//
// V8 rebuilds a v128.const in registers on every use (several instructions
// each), and binaryen folds constant locals back into the loops; loads from
// a table it cannot see through cost one instruction. The host allocates
// `constantBytes()` bytes once and calls `writeConstants` on them.

const K_LO: usize = 0; // exp's input clamp
const K_HI: usize = 16;
const K_LOG2E: usize = 32;
const K_MAGIC: usize = 48; // 1.5·2^23: rounds to an integer when added
const K_LN2_HI: usize = 64;
const K_LN2_LO: usize = 80;
const K_P0: usize = 96; // the polynomial, highest power first: 6 entries
const K_ONE: usize = 192;
const K_MAGIC_BITS: usize = 208;
const K_127: usize = 224;
const K_GELU_A: usize = 240;
const K_GELU_2C: usize = 256;
const K_GELU_3A: usize = 272;
const K_END: usize = 288;

/** Bytes of the constant table. */
export function constantBytes(): i32 {
  return <i32>K_END;
}

/** Fill the constant table at `k` (16-byte entries, each value four times). */
export function writeConstants(k: usize): void {
  v128.store(k + K_LO, f32x4.splat(-87.0));
  v128.store(k + K_HI, f32x4.splat(88.0));
  v128.store(k + K_LOG2E, f32x4.splat(1.44269504088896341));
  v128.store(k + K_MAGIC, f32x4.splat(12582912.0));
  v128.store(k + K_LN2_HI, f32x4.splat(0.693359375));
  v128.store(k + K_LN2_LO, f32x4.splat(-2.12194440e-4));
  v128.store(k + K_P0, f32x4.splat(1.9875691500e-4));
  v128.store(k + K_P0 + 16, f32x4.splat(1.3981999507e-3));
  v128.store(k + K_P0 + 32, f32x4.splat(8.3334519073e-3));
  v128.store(k + K_P0 + 48, f32x4.splat(4.1665795894e-2));
  v128.store(k + K_P0 + 64, f32x4.splat(1.6666665459e-1));
  v128.store(k + K_P0 + 80, f32x4.splat(5.0000001201e-1));
  v128.store(k + K_ONE, f32x4.splat(1.0));
  v128.store(k + K_MAGIC_BITS, i32x4.splat(0x4b400000));
  v128.store(k + K_127, i32x4.splat(127));
  v128.store(k + K_GELU_A, f32x4.splat(GELU_A));
  v128.store(k + K_GELU_2C, f32x4.splat(GELU_2C));
  v128.store(k + K_GELU_3A, f32x4.splat(3 * GELU_A));
}

// ---- exp, vectorised (Cephes expf: range reduction by ln 2, degree-6 polynomial)

// @ts-ignore: decorator
@inline
function expV(x: v128, k: usize): v128 {
  // pmin/pmax: one instruction each (min/max must propagate NaN, which costs several).
  x = f32x4.pmin(f32x4.pmax(x, v128.load(k + K_LO)), v128.load(k + K_HI));
  // Round x·log2(e) to an integer by adding 1.5·2^23: the sum's low mantissa
  // bits then hold n itself (read as an integer, minus the magic's bits).
  const magic = v128.load(k + K_MAGIC);
  const shifted = f32x4.add(f32x4.mul(x, v128.load(k + K_LOG2E)), magic);
  const n = f32x4.sub(shifted, magic);
  let r = f32x4.sub(x, f32x4.mul(n, v128.load(k + K_LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, v128.load(k + K_LN2_LO)));
  let p = v128.load(k + K_P0);
  p = f32x4.add(f32x4.mul(p, r), v128.load(k + K_P0 + 16));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k + K_P0 + 32));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k + K_P0 + 48));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k + K_P0 + 64));
  p = f32x4.add(f32x4.mul(p, r), v128.load(k + K_P0 + 80));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), v128.load(k + K_ONE));
  // 2^n built in the exponent bits; n is within [-126, 127] after the clamp.
  const bits = i32x4.sub(shifted, v128.load(k + K_MAGIC_BITS));
  return f32x4.mul(p, i32x4.shl(i32x4.add(bits, v128.load(k + K_127)), 23));
}

// @ts-ignore: decorator
@inline
function sigmoidV(u: v128, k: usize): v128 {
  const one = v128.load(k + K_ONE);
  return f32x4.div(one, f32x4.add(one, expV(f32x4.neg(u), k)));
}

// @ts-ignore: decorator
@inline
function sum4(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// ---- GELU, tanh form: x·σ(2c(x + 0.044715x³)), c = √(2/π)

const GELU_2C: f32 = 1.5957691216057308;
const GELU_A: f32 = 0.044715;

// @ts-ignore: decorator
@inline
function geluV(v: v128, k: usize): v128 {
  const inner = f32x4.add(v128.load(k + K_ONE), f32x4.mul(v128.load(k + K_GELU_A), f32x4.mul(v, v)));
  return f32x4.mul(v, sigmoidV(f32x4.mul(v128.load(k + K_GELU_2C), f32x4.mul(v, inner)), k));
}

// d/dx x·σ(u) = σ + x·σ(1-σ)·u',  u = 2c(x + a x³),  u' = 2c(1 + 3a x²)
// @ts-ignore: decorator
@inline
function geluGradV(v: v128, k: usize): v128 {
  const one = v128.load(k + K_ONE), c2 = v128.load(k + K_GELU_2C);
  const v2 = f32x4.mul(v, v);
  const s = sigmoidV(f32x4.mul(c2, f32x4.mul(v, f32x4.add(one, f32x4.mul(v128.load(k + K_GELU_A), v2)))), k);
  const du = f32x4.mul(c2, f32x4.add(one, f32x4.mul(v128.load(k + K_GELU_3A), v2)));
  return f32x4.add(s, f32x4.mul(f32x4.mul(v, f32x4.mul(s, f32x4.sub(one, s))), du));
}

/** y = gelu(x) over n floats; `k` is the constant table. */
export function gelu(x: usize, y: usize, n: i32, k: usize): void {
  const pairs = n & ~7;
  // Two vectors per iteration: two independent dependency chains to overlap.
  for (let i = 0; i < pairs; i += 8) {
    const o = <usize>i << 2;
    const a = geluV(v128.load(x + o), k), b = geluV(v128.load(x + o + 16), k);
    v128.store(y + o, a);
    v128.store(y + o + 16, b);
  }
  for (let i = pairs; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, f32x4.extract_lane(geluV(f32x4.splat(load<f32>(x + o)), k), 0));
  }
}

/** dx = dy · gelu'(x) over n floats; σ is recomputed, nothing was saved. */
export function geluGrad(dy: usize, x: usize, dx: usize, n: i32, k: usize): void {
  const pairs = n & ~7;
  for (let i = 0; i < pairs; i += 8) {
    const o = <usize>i << 2;
    const a = geluGradV(v128.load(x + o), k), b = geluGradV(v128.load(x + o + 16), k);
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), a));
    v128.store(dx + o + 16, f32x4.mul(v128.load(dy + o + 16), b));
  }
  for (let i = pairs; i < n; i++) {
    const o = <usize>i << 2;
    const d = f32x4.extract_lane(geluGradV(f32x4.splat(load<f32>(x + o)), k), 0);
    store<f32>(dx + o, load<f32>(dy + o) * d);
  }
}

// ---- column sums in float32 blocks, totals in float64 (norm statistics)

/** Adds the `d` float32 block sums at `acc` to the float64 totals at `total`. */
@inline
function addToTotals(acc: usize, total: usize, d: i32): void {
  for (let j = 0; j < d; j++) {
    const o8 = <usize>j << 3;
    store<f64>(total + o8, load<f64>(total + o8) + <f64>load<f32>(acc + (<usize>j << 2)));
  }
}

/** Writes the `d` float64 totals at `total` to `out` as float32. */
@inline
function storeTotals(total: usize, out: usize, d: i32): void {
  for (let j = 0; j < d; j++) {
    store<f32>(out + (<usize>j << 2), <f32>load<f64>(total + (<usize>j << 3)));
  }
}

// ---- layer norm over rows of d floats

/**
 * y = (x - μ)·r·scale + shift per row, with r = 1/√(σ² + eps) (biased σ²,
 * two passes over the row); writes each row's μ and r.
 */
export function layerNorm(
  x: usize,
  scale: usize,
  shift: usize,
  y: usize,
  mean: usize,
  rstd: usize,
  rows: i32,
  d: i32,
  eps: f32,
): void {
  const body = d & ~3;
  const rowBytes = <usize>d << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes, yr = y + <usize>r * rowBytes;
    let acc = f32x4.splat(0);
    for (let j = 0; j < body; j += 4) acc = f32x4.add(acc, v128.load(xr + (<usize>j << 2)));
    let s = sum4(acc);
    for (let j = body; j < d; j++) s += load<f32>(xr + (<usize>j << 2));
    const mu: f32 = s / <f32>d;
    const muV = f32x4.splat(mu);
    acc = f32x4.splat(0);
    for (let j = 0; j < body; j += 4) {
      const c = f32x4.sub(v128.load(xr + (<usize>j << 2)), muV);
      acc = f32x4.add(acc, f32x4.mul(c, c));
    }
    let q = sum4(acc);
    for (let j = body; j < d; j++) {
      const c = load<f32>(xr + (<usize>j << 2)) - mu;
      q += c * c;
    }
    const rs: f32 = 1 / Mathf.sqrt(q / <f32>d + eps);
    store<f32>(mean + (<usize>r << 2), mu);
    store<f32>(rstd + (<usize>r << 2), rs);
    const rsV = f32x4.splat(rs);
    for (let j = 0; j < body; j += 4) {
      const o = <usize>j << 2;
      const n = f32x4.mul(f32x4.sub(v128.load(xr + o), muV), rsV);
      v128.store(yr + o, f32x4.add(f32x4.mul(n, v128.load(scale + o)), v128.load(shift + o)));
    }
    for (let j = body; j < d; j++) {
      const o = <usize>j << 2;
      const n = (load<f32>(xr + o) - mu) * rs;
      store<f32>(yr + o, n * load<f32>(scale + o) + load<f32>(shift + o));
    }
  }
}

/**
 * dx = r·(g - mean(g) - x̂·mean(g·x̂)) with g = dy·scale, x̂ = (x - μ)·r;
 * dscale = Σ dy·x̂ and dshift = Σ dy over rows. The column sums gather in
 * float32 over blocks of `block` rows in `acc` (2d floats of scratch) and
 * are added to the float64 totals in `total` (2d doubles, zeroed here), so
 * long batches lose no precision; dscale and dshift are written at the end.
 */
export function layerNormGrad(
  dy: usize,
  x: usize,
  mean: usize,
  rstd: usize,
  scale: usize,
  dx: usize,
  dscale: usize,
  dshift: usize,
  rows: i32,
  d: i32,
  acc: usize,
  total: usize,
): void {
  const body = d & ~3;
  const rowBytes = <usize>d << 2;
  const accShift = acc + rowBytes;
  const totalShift = total + (<usize>d << 3);
  memory.fill(total, 0, <usize>d << 4);
  const block = 64;
  for (let r0 = 0; r0 < rows; r0 += block) {
    memory.fill(acc, 0, rowBytes << 1);
    const r1 = min(rows, r0 + block);
    for (let r = r0; r < r1; r++) {
      const base = <usize>r * rowBytes;
      const mu = load<f32>(mean + (<usize>r << 2)), rs = load<f32>(rstd + (<usize>r << 2));
      const muV = f32x4.splat(mu), rsV = f32x4.splat(rs);
      let sg = f32x4.splat(0), sgx = f32x4.splat(0);
      for (let j = 0; j < body; j += 4) {
        const o = <usize>j << 2;
        const g0 = v128.load(dy + base + o);
        const n = f32x4.mul(f32x4.sub(v128.load(x + base + o), muV), rsV);
        const g = f32x4.mul(g0, v128.load(scale + o));
        sg = f32x4.add(sg, g);
        sgx = f32x4.add(sgx, f32x4.mul(g, n));
        v128.store(acc + o, f32x4.add(v128.load(acc + o), f32x4.mul(g0, n)));
        v128.store(accShift + o, f32x4.add(v128.load(accShift + o), g0));
      }
      let meanG = sum4(sg), meanGX = sum4(sgx);
      for (let j = body; j < d; j++) {
        const o = <usize>j << 2;
        const g0 = load<f32>(dy + base + o);
        const n = (load<f32>(x + base + o) - mu) * rs;
        const g = g0 * load<f32>(scale + o);
        meanG += g;
        meanGX += g * n;
        store<f32>(acc + o, load<f32>(acc + o) + g0 * n);
        store<f32>(accShift + o, load<f32>(accShift + o) + g0);
      }
      meanG /= <f32>d;
      meanGX /= <f32>d;
      const mgV = f32x4.splat(meanG), mgxV = f32x4.splat(meanGX);
      for (let j = 0; j < body; j += 4) {
        const o = <usize>j << 2;
        const n = f32x4.mul(f32x4.sub(v128.load(x + base + o), muV), rsV);
        const g = f32x4.mul(v128.load(dy + base + o), v128.load(scale + o));
        const v = f32x4.sub(f32x4.sub(g, mgV), f32x4.mul(n, mgxV));
        v128.store(dx + base + o, f32x4.mul(rsV, v));
      }
      for (let j = body; j < d; j++) {
        const o = <usize>j << 2;
        const n = (load<f32>(x + base + o) - mu) * rs;
        const g = load<f32>(dy + base + o) * load<f32>(scale + o);
        store<f32>(dx + base + o, rs * (g - meanG - n * meanGX));
      }
    }
    addToTotals(acc, total, d);
    addToTotals(accShift, totalShift, d);
  }
  storeTotals(total, dscale, d);
  storeTotals(totalShift, dshift, d);
}

// ---- batch norm over rows of channels (channels last), batch statistics

/**
 * Adds to the float64 column totals at `total` (d doubles) the column sums of
 * `rows` rows of `d` floats at `x`, of `(x - center)²` where `center` is not
 * 0 (d floats). Sums gather in float32 over blocks of `block` rows in `acc`
 * (d floats of scratch), so a batch of 10^5 rows loses no precision.
 */
function columnSums(
  x: usize,
  rows: i32,
  d: i32,
  center: usize,
  acc: usize,
  total: usize,
): void {
  const body = d & ~3;
  const rowBytes = <usize>d << 2;
  const block = 64;
  for (let r0 = 0; r0 < rows; r0 += block) {
    memory.fill(acc, 0, rowBytes);
    const r1 = min(rows, r0 + block);
    for (let r = r0; r < r1; r++) {
      const xr = x + <usize>r * rowBytes;
      if (center) {
        for (let j = 0; j < body; j += 4) {
          const o = <usize>j << 2;
          const c = f32x4.sub(v128.load(xr + o), v128.load(center + o));
          v128.store(acc + o, f32x4.add(v128.load(acc + o), f32x4.mul(c, c)));
        }
        for (let j = body; j < d; j++) {
          const o = <usize>j << 2;
          const c = load<f32>(xr + o) - load<f32>(center + o);
          store<f32>(acc + o, load<f32>(acc + o) + c * c);
        }
      } else {
        for (let j = 0; j < body; j += 4) {
          const o = <usize>j << 2;
          v128.store(acc + o, f32x4.add(v128.load(acc + o), v128.load(xr + o)));
        }
        for (let j = body; j < d; j++) {
          const o = <usize>j << 2;
          store<f32>(acc + o, load<f32>(acc + o) + load<f32>(xr + o));
        }
      }
    }
    addToTotals(acc, total, d);
  }
}

/**
 * Batch norm with this batch's statistics: per channel (column) the mean μ
 * and `r = 1/√(σ² + eps)` (biased variance, two passes), then
 * `y = (x - μ)·r·scale + shift`. Scratch: `total` d doubles (8-byte
 * aligned), `acc` d floats.
 */
export function batchNorm(
  x: usize,
  scale: usize,
  shift: usize,
  y: usize,
  mean: usize,
  rstd: usize,
  rows: i32,
  d: i32,
  eps: f32,
  acc: usize,
  total: usize,
): void {
  const n = <f64>rows;
  memory.fill(total, 0, <usize>d << 3);
  columnSums(x, rows, d, 0, acc, total);
  for (let j = 0; j < d; j++) {
    store<f32>(mean + (<usize>j << 2), <f32>(load<f64>(total + (<usize>j << 3)) / n));
  }
  memory.fill(total, 0, <usize>d << 3);
  columnSums(x, rows, d, mean, acc, total);
  // y = x·a + b per channel, a = r·scale, b = shift - μ·a (acc holds a, total's
  // first floats b: the totals are read first).
  const a = acc, b = total;
  for (let j = 0; j < d; j++) {
    const o = <usize>j << 2;
    const rs = <f32>(1 / Math.sqrt(load<f64>(total + (<usize>j << 3)) / n + <f64>eps));
    store<f32>(rstd + o, rs);
    store<f32>(a + o, rs * load<f32>(scale + o));
  }
  for (let j = 0; j < d; j++) {
    const o = <usize>j << 2;
    store<f32>(b + o, load<f32>(shift + o) - load<f32>(mean + o) * load<f32>(a + o));
  }
  const body = d & ~3;
  const rowBytes = <usize>d << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes, yr = y + <usize>r * rowBytes;
    for (let j = 0; j < body; j += 4) {
      const o = <usize>j << 2;
      v128.store(yr + o, f32x4.add(f32x4.mul(v128.load(xr + o), v128.load(a + o)), v128.load(b + o)));
    }
    for (let j = body; j < d; j++) {
      const o = <usize>j << 2;
      store<f32>(yr + o, load<f32>(xr + o) * load<f32>(a + o) + load<f32>(b + o));
    }
  }
}

/**
 * The batch norm's gradient with batch statistics, N = rows:
 * `dshift = Σ dy`, `dscale = Σ dy·x̂` with `x̂ = (x - μ)·r`, and
 * `dx = scale·r·(dy - dshift/N - x̂·dscale/N)`. Column sums as in
 * {@linkcode layerNormGrad}: float32 blocks in `acc` (2d floats) into float64
 * totals in `total` (2d doubles).
 */
export function batchNormGrad(
  dy: usize,
  x: usize,
  mean: usize,
  rstd: usize,
  scale: usize,
  dx: usize,
  dscale: usize,
  dshift: usize,
  rows: i32,
  d: i32,
  acc: usize,
  total: usize,
): void {
  const body = d & ~3;
  const rowBytes = <usize>d << 2;
  const accShift = acc + rowBytes;
  const totalShift = total + (<usize>d << 3);
  memory.fill(total, 0, <usize>d << 4);
  const block = 64;
  for (let r0 = 0; r0 < rows; r0 += block) {
    memory.fill(acc, 0, rowBytes << 1);
    const r1 = min(rows, r0 + block);
    for (let r = r0; r < r1; r++) {
      const base = <usize>r * rowBytes;
      for (let j = 0; j < body; j += 4) {
        const o = <usize>j << 2;
        const g = v128.load(dy + base + o);
        const n = f32x4.mul(f32x4.sub(v128.load(x + base + o), v128.load(mean + o)), v128.load(rstd + o));
        v128.store(acc + o, f32x4.add(v128.load(acc + o), f32x4.mul(g, n)));
        v128.store(accShift + o, f32x4.add(v128.load(accShift + o), g));
      }
      for (let j = body; j < d; j++) {
        const o = <usize>j << 2;
        const g = load<f32>(dy + base + o);
        const n = (load<f32>(x + base + o) - load<f32>(mean + o)) * load<f32>(rstd + o);
        store<f32>(acc + o, load<f32>(acc + o) + g * n);
        store<f32>(accShift + o, load<f32>(accShift + o) + g);
      }
    }
    addToTotals(acc, total, d);
    addToTotals(accShift, totalShift, d);
  }
  // Per channel: dx = dy·k + x̂·m + c with k = scale·r, m = -k·dscale/N,
  // c = -k·dshift/N; x̂·m = x·m·r - μ·m·r, folded into c. k, m' = m·r and
  // c' in acc's 2d floats and the first d floats of total (read first).
  const n = <f32>rows;
  const k = acc, m = accShift, c = total;
  storeTotals(total, dscale, d);
  storeTotals(totalShift, dshift, d);
  for (let j = 0; j < d; j++) {
    const o = <usize>j << 2;
    const rs = load<f32>(rstd + o);
    const kj = load<f32>(scale + o) * rs;
    const mj = -kj * load<f32>(dscale + o) / n * rs;
    store<f32>(k + o, kj);
    store<f32>(m + o, mj);
    store<f32>(c + o, -kj * load<f32>(dshift + o) / n - load<f32>(mean + o) * mj);
  }
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * rowBytes;
    for (let j = 0; j < body; j += 4) {
      const o = <usize>j << 2;
      const v = f32x4.add(
        f32x4.mul(v128.load(dy + base + o), v128.load(k + o)),
        f32x4.add(f32x4.mul(v128.load(x + base + o), v128.load(m + o)), v128.load(c + o)),
      );
      v128.store(dx + base + o, v);
    }
    for (let j = body; j < d; j++) {
      const o = <usize>j << 2;
      store<f32>(
        dx + base + o,
        load<f32>(dy + base + o) * load<f32>(k + o) + load<f32>(x + base + o) * load<f32>(m + o) +
          load<f32>(c + o),
      );
    }
  }
}

// ---- max-pool gradient, 2x2 windows at stride 2, no padding, channels last

/**
 * Each output's gradient goes to the first maximal input of its window,
 * scanning rows then columns (tfjs's cpu rule). Windows do not overlap, so
 * every input gets a store, not an add; inputs no window covers (odd sizes)
 * are zeroed first. Every window must lie inside the input
 * (`2·outH ≤ inH`, `2·outW ≤ inW`): the caller checks.
 */
export function maxPoolGrad2x2(
  x: usize,
  dy: usize,
  out: usize,
  batch: i32,
  inH: i32,
  inW: i32,
  c: i32,
  outH: i32,
  outW: i32,
): void {
  if ((inH & 1) != 0 || (inW & 1) != 0 || outH * 2 != inH || outW * 2 != inW) {
    memory.fill(out, 0, (<usize>batch * inH * inW * c) << 2);
  }
  const cb = <usize>c << 2;
  const rowBytes = <usize>inW * cb;
  const body = c & ~3;
  const zero = f32x4.splat(0), ninf = f32x4.splat(-Infinity);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const p0 = ((<usize>b * inH + 2 * oy) * inW + 2 * ox) * cb;
        const p1 = p0 + cb, p2 = p0 + rowBytes, p3 = p2 + cb;
        const g = dy + ((<usize>b * outH + oy) * outW + ox) * cb;
        for (let ch = 0; ch < body; ch += 4) {
          const o = <usize>ch << 2;
          const v0 = v128.load(x + p0 + o), v1 = v128.load(x + p1 + o);
          const v2 = v128.load(x + p2 + o), v3 = v128.load(x + p3 + o);
          // tfjs's cpu rule: from -∞, a corner wins only if strictly greater, so
          // the first maximum wins, a NaN never does, and an all -∞ window gets nothing.
          const t0 = f32x4.gt(v0, ninf);
          let best = v128.bitselect(v0, ninf, t0);
          const t1 = f32x4.gt(v1, best);
          best = v128.bitselect(v1, best, t1);
          const t2 = f32x4.gt(v2, best);
          best = v128.bitselect(v2, best, t2);
          const t3 = f32x4.gt(v3, best);
          const w3 = t3;
          const w2 = v128.andnot(t2, t3);
          const w1 = v128.andnot(t1, v128.or(t2, t3));
          const w0 = v128.andnot(t0, v128.or(t1, v128.or(t2, t3)));
          const gv = v128.load(g + o);
          v128.store(out + p0 + o, v128.bitselect(gv, zero, w0));
          v128.store(out + p1 + o, v128.bitselect(gv, zero, w1));
          v128.store(out + p2 + o, v128.bitselect(gv, zero, w2));
          v128.store(out + p3 + o, v128.bitselect(gv, zero, w3));
        }
        for (let ch = body; ch < c; ch++) {
          const o = <usize>ch << 2;
          const v0 = load<f32>(x + p0 + o), v1 = load<f32>(x + p1 + o);
          const v2 = load<f32>(x + p2 + o), v3 = load<f32>(x + p3 + o);
          let at = -1;
          let best: f32 = -Infinity;
          if (v0 > best) {
            best = v0;
            at = 0;
          }
          if (v1 > best) {
            best = v1;
            at = 1;
          }
          if (v2 > best) {
            best = v2;
            at = 2;
          }
          if (v3 > best) at = 3;
          const gv = load<f32>(g + o);
          store<f32>(out + p0 + o, at == 0 ? gv : 0);
          store<f32>(out + p1 + o, at == 1 ? gv : 0);
          store<f32>(out + p2 + o, at == 2 ? gv : 0);
          store<f32>(out + p3 + o, at == 3 ? gv : 0);
        }
      }
    }
  }
}

// ---- attention heads: [B, N, parts·H·dh] <-> parts × [B, H, N, dh]

// Rows of floats, vector by vector: for short rows (a head's 32 floats)
// inline loads and stores beat memory.copy, which calls into the engine.
// @ts-ignore: decorator
@inline
function copyFloats(to: usize, from: usize, floats: i32): void {
  const body = floats & ~3;
  for (let t = 0; t < body; t += 4) {
    const o = <usize>t << 2;
    v128.store(to + o, v128.load(from + o));
  }
  for (let t = body; t < floats; t++) {
    const o = <usize>t << 2;
    store<f32>(to + o, load<f32>(from + o));
  }
}

/**
 * Copies parts `first`…`first + count - 1` (count ≤ 3) of fused projections
 * `src` `[B, N, parts, H, dh]` into `d0`, `d1`, `d2`, each `[B, H, N, dh]`;
 * with `merge` set, the reverse (the split's gradient). One pass over `src`
 * in order: reading it once per part costs three times the memory traffic.
 */
export function splitHeads(
  src: usize,
  d0: usize,
  d1: usize,
  d2: usize,
  count: i32,
  first: i32,
  b: i32,
  n: i32,
  parts: i32,
  h: i32,
  dh: i32,
  merge: bool,
): void {
  const chunk = <usize>dh << 2;
  const headStep = <usize>n * chunk;
  let s = src;
  for (let bi = 0; bi < b; bi++) {
    for (let t = 0; t < n; t++) {
      s += <usize>first * h * chunk;
      for (let p = 0; p < count; p++) {
        let d = (p == 0 ? d0 : p == 1 ? d1 : d2) + (<usize>bi * h * n + t) * chunk;
        for (let hi = 0; hi < h; hi++) {
          if (merge) copyFloats(s, d, dh);
          else copyFloats(d, s, dh);
          s += chunk;
          d += headStep;
        }
      }
      s += <usize>(parts - first - count) * h * chunk;
    }
  }
}

// ---- im2col and its adjoint, for stride-1 convolutions over a padded grid

// @ts-ignore: decorator
@inline
function addRow(to: usize, from: usize, floats: i32): void {
  const body = floats & ~3;
  for (let t = 0; t < body; t += 4) {
    const o = <usize>t << 2;
    v128.store(to + o, f32x4.add(v128.load(to + o), v128.load(from + o)));
  }
  for (let t = body; t < floats; t++) {
    const o = <usize>t << 2;
    store<f32>(to + o, load<f32>(to + o) + load<f32>(from + o));
  }
}

/**
 * Patch rows `m0 .. m0+n` of the grid (`gridH x gridW` cells of `c` floats
 * per image) into `dst` (`n x kh·kw·c`): output position (b, i, j) reads grid
 * rows i..i+kh-1, each a contiguous run of kw cells from column j. With
 * `adjoint` set, the reverse: each patch row of `dst` is added back onto the
 * grid (col2im, the input gradient's scatter).
 */
export function im2col(
  grid: usize,
  gridH: i32,
  gridW: i32,
  c: i32,
  kh: i32,
  kw: i32,
  outH: i32,
  outW: i32,
  m0: i32,
  n: i32,
  dst: usize,
  adjoint: bool,
): void {
  const span = kw * c;
  const spanBytes = <usize>span << 2, rowStep = (<usize>gridW * c) << 2;
  const perImage = outH * outW;
  let b = m0 / perImage;
  let rem = m0 - b * perImage;
  let i = rem / outW;
  let j = rem - i * outW;
  let d = dst;
  for (let r = 0; r < n; r++) {
    let s = grid + (((<usize>b * gridH + i) * gridW + j) * c << 2);
    for (let a = 0; a < kh; a++) {
      if (adjoint) addRow(s, d, span);
      else copyFloats(d, s, span);
      s += rowStep;
      d += spanBytes;
    }
    if (++j == outW) {
      j = 0;
      if (++i == outH) {
        i = 0;
        b++;
      }
    }
  }
}

// ---- softmax over rows, and its gradient, for attention weights

/** Each of `rows` rows of `cols` floats at `p` becomes its softmax, in place. */
export function softmaxRows(p: usize, rows: i32, cols: i32, k: usize): void {
  const body = cols & ~3;
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const row = p + <usize>r * rowBytes;
    let mx = f32x4.splat(-Infinity);
    for (let j = 0; j < body; j += 4) mx = f32x4.pmax(mx, v128.load(row + (<usize>j << 2)));
    let m = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
    for (let j = body; j < cols; j++) m = max(m, load<f32>(row + (<usize>j << 2)));
    const mV = f32x4.splat(m);
    let acc = f32x4.splat(0);
    for (let j = 0; j < body; j += 4) {
      const o = <usize>j << 2;
      const e = expV(f32x4.sub(v128.load(row + o), mV), k);
      v128.store(row + o, e);
      acc = f32x4.add(acc, e);
    }
    let s = sum4(acc);
    for (let j = body; j < cols; j++) {
      const o = <usize>j << 2;
      const e = f32x4.extract_lane(expV(f32x4.splat(load<f32>(row + o) - m), k), 0);
      store<f32>(row + o, e);
      s += e;
    }
    const inv: f32 = 1 / s;
    const invV = f32x4.splat(inv);
    for (let j = 0; j < body; j += 4) {
      const o = <usize>j << 2;
      v128.store(row + o, f32x4.mul(v128.load(row + o), invV));
    }
    for (let j = body; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(row + o, load<f32>(row + o) * inv);
    }
  }
}

/**
 * The gradient of softmax rows `p` times `scale`, in place over the
 * gradient `dp` of the weights: `dp ← scale · p ⊙ (dp − Σ dp ⊙ p)` per row.
 */
export function softmaxGradRows(p: usize, dp: usize, rows: i32, cols: i32, scale: f32): void {
  const body = cols & ~3;
  const rowBytes = <usize>cols << 2;
  const scaleV = f32x4.splat(scale);
  for (let r = 0; r < rows; r++) {
    const pr = p + <usize>r * rowBytes, gr = dp + <usize>r * rowBytes;
    let acc = f32x4.splat(0);
    for (let j = 0; j < body; j += 4) {
      const o = <usize>j << 2;
      acc = f32x4.add(acc, f32x4.mul(v128.load(pr + o), v128.load(gr + o)));
    }
    let dot = sum4(acc);
    for (let j = body; j < cols; j++) {
      const o = <usize>j << 2;
      dot += load<f32>(pr + o) * load<f32>(gr + o);
    }
    const dotV = f32x4.splat(dot);
    for (let j = 0; j < body; j += 4) {
      const o = <usize>j << 2;
      const pv = v128.load(pr + o);
      v128.store(gr + o, f32x4.mul(scaleV, f32x4.mul(pv, f32x4.sub(v128.load(gr + o), dotV))));
    }
    for (let j = body; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(gr + o, scale * load<f32>(pr + o) * (load<f32>(gr + o) - dot));
    }
  }
}
