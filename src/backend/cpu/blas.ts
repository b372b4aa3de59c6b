/**
 * Native single-precision GEMM through Deno's FFI: OpenBLAS on Linux
 * (Debian/Ubuntu: `apt-get install libopenblas0`), Accelerate on macOS,
 * OpenBLAS on Windows. `null` when none can be opened.
 *
 * @module
 */

/** `C = alpha · op(A) · op(B) + beta · C`, row-major, on Float32Array views. */
export type Sgemm = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** An opened BLAS library. */
export interface Blas {
  /** The file that was opened. */
  library: string;
  sgemm: Sgemm;
  /** OpenBLAS's thread count, where the library has one. */
  getThreads?: () => number;
  /** Set OpenBLAS's thread count (process-wide), where the library has one. */
  setThreads?: (n: number) => void;
}

const CANDIDATES: Record<string, string[]> = {
  linux: [
    "libopenblas.so.0",
    "libopenblas.so",
    "libopenblasp.so.0",
    "libblis.so.4",
  ],
  darwin: [
    "/System/Library/Frameworks/Accelerate.framework/Accelerate",
    "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
    "/usr/local/opt/openblas/lib/libopenblas.dylib",
  ],
  windows: ["libopenblas.dll", "openblas.dll"],
};

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  // OpenBLAS only; absent symbols leave these null.
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
} as const;

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

let cached: Blas | null | undefined;
/** The library {@linkcode openBlas} opened in this thread, until {@linkcode closeBlas}. */
let opened: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;

function closed(): never {
  throw new Error("native BLAS: the library was closed in this thread (closeBlas)");
}

/**
 * Open the first BLAS library found (`BLAS_LIBRARY` overrides the search),
 * once per process. Returns null without FFI permission or library.
 */
export function openBlas(): Blas | null {
  if (cached !== undefined) return cached;
  cached = null;
  // Browsers and Node have no Deno global: no FFI there, so no native BLAS.
  if (typeof Deno === "undefined") return cached;
  let override: string | undefined;
  try {
    override = Deno.env.get("BLAS_LIBRARY");
  } catch { /* no env permission: use the default search */ }
  if (override === "none") return cached;
  const names = override ? [override] : CANDIDATES[Deno.build.os] ?? [];
  for (const library of names) {
    try {
      const lib = Deno.dlopen(library, SYMBOLS);
      opened = lib;
      const f = lib.symbols.cblas_sgemm;
      const get = lib.symbols.openblas_get_num_threads, set = lib.symbols.openblas_set_num_threads;
      // Each call checks the library is still open: a closed one's symbols point nowhere.
      cached = {
        library,
        ...(get && set
          ? {
            getThreads: () => opened ? get() : closed(),
            setThreads: (n: number) => opened ? set(n) : closed(),
          }
          : {}),
        sgemm: (transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =>
          opened === null ? closed() : f(
            ROW_MAJOR,
            transA ? TRANS : NO_TRANS,
            transB ? TRANS : NO_TRANS,
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
          ),
      };
      return cached;
    } catch {
      // Not this one (missing file, missing symbol or no --allow-ffi); try the next.
    }
  }
  return cached;
}

/**
 * Close the library {@linkcode openBlas} opened in this thread, if any: a
 * thread that is about to end (a gradient worker) releases it itself, so the
 * handle is not dropped while the process exits. Calls through the closed
 * library throw, and {@linkcode openBlas} returns null from then on. The
 * library stays loaded while another thread holds it open.
 */
export function closeBlas(): void {
  const lib = opened;
  if (lib === null) return;
  opened = null;
  cached = null;
  lib.close();
}
