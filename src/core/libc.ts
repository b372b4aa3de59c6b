/**
 * The few libc calls the project makes through FFI on Linux: a thread's
 * kernel id and whether it still runs (gradient workers' orderly close), and
 * whether a path exists where Deno's own file API may not look (`/dev` needs
 * `--allow-all` in Deno 2.9, even with `--allow-read`).
 *
 * @module
 */

const LIBC_SYMBOLS = {
  gettid: { parameters: [], result: "i32", optional: true },
  tgkill: { parameters: ["i32", "i32", "i32"], result: "i32", optional: true },
  access: { parameters: ["buffer", "i32"], result: "i32", optional: true },
} as const;

/** libc, opened by {@linkcode openLibc}; close it when done. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;

/** libc on Linux with FFI permission (asked without a prompt); null elsewhere. */
export function openLibc(): Libc | null {
  if (typeof Deno === "undefined" || Deno.build.os !== "linux") return null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    return Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  } catch {
    return null;
  }
}

/** Whether `path` exists, by access(2) (F_OK); null where libc cannot be asked. */
export function pathExists(path: string): boolean | null {
  const libc = openLibc();
  try {
    const access = libc?.symbols.access;
    if (!access) return null;
    return access(new TextEncoder().encode(path + "\0"), 0) === 0;
  } finally {
    libc?.close();
  }
}
