/**
 * A plain TypeScript sgemm, the fallback when no native BLAS can be opened.
 * Correct on every platform, and about 1-2 GFLOP/s: slow, but it lets the
 * wasm backend train convolutions, whose filter gradient tfjs-backend-wasm
 * lacks.
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";

/** Row-major `C = alpha · op(A) · op(B) + beta · C`. */
export const jsSgemm: Sgemm = (
  transA,
  transB,
  m,
  n,
  k,
  alpha,
  a,
  lda,
  b,
  ldb,
  beta,
  c,
  ldc,
) => {
  const row = new Float32Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const aip = alpha * (transA ? a[p * lda + i] : a[i * lda + p]);
      if (aip === 0) continue;
      if (transB) {
        for (let j = 0; j < n; j++) row[j] += aip * b[j * ldb + p];
      } else {
        const base = p * ldb;
        for (let j = 0; j < n; j++) row[j] += aip * b[base + j];
      }
    }
    const base = i * ldc;
    if (beta === 0) { for (let j = 0; j < n; j++) c[base + j] = row[j]; }
    else for (let j = 0; j < n; j++) c[base + j] = beta * c[base + j] + row[j];
  }
};
