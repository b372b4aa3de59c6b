/**
 * `deno task serve [--dir site/dist] [--port 8000]`: serve a built folder
 * (what `deno task site` writes) on 127.0.0.1 with the MIME types browsers
 * insist on (`application/wasm` for streaming compilation, `text/javascript`
 * for module scripts), and print the URL. Read-only, GET and HEAD only.
 *
 * Only regular files whose real path (symlinks resolved) lies inside the
 * folder's real path are served: a symlink may point elsewhere inside the
 * folder, but one that leads out of it (absolute or relative, to a file or a
 * folder), a dangling or looping one, a hidden file reached through a link,
 * and anything that is not a regular file (a named pipe, a socket, a device)
 * give 404.
 *
 * Why the task keeps a plain `--allow-read`: the folder is chosen at run
 * time (`--dir`), so deno.json cannot name it, and narrowing the grant would
 * need a second process started under `--allow-run`, a wider grant than the
 * one it narrows. Nor would it have stopped a symlink: Deno checks
 * `--allow-read=DIR` against the path as written, not where a link leads
 * (under `--allow-read=DIR`, reading `DIR/link -> /etc/passwd` succeeds), so
 * the containment is done here, by {@linkcode serveFile}, on real paths.
 */
import { isAbsolute, relative } from "node:path";
import { numberFlag, parseFlags, resolvePath, runMain } from "../src/cli/args.ts";

/** Content types by file extension; anything else is served as bytes. */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".bin": "application/octet-stream",
  ".safetensors": "application/octet-stream",
};

/** The content type for `path`, by its extension. */
export function mimeType(path: string): string {
  const dot = path.lastIndexOf(".");
  return (dot >= 0 && MIME_TYPES[path.slice(dot).toLowerCase()]) || "application/octet-stream";
}

/**
 * The file under `root` that `pathname` names (`index.html` for a folder),
 * or null for a path that would leave `root` or names a hidden file.
 */
export function fileFor(root: string, pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null; // malformed percent-encoding
  }
  const parts = decoded.split("/").filter((p) => p !== "");
  // URL parsing already folds "..", but a decoded "%2F" or "\" could smuggle
  // one back in; refuse rather than normalise.
  if (parts.some((p) => p.startsWith(".") || p.includes("\\") || p.includes("\0"))) return null;
  const file = [root.replace(/\/+$/, ""), ...parts].join("/");
  return decoded.endsWith("/") || parts.length === 0 ? `${file}/index.html` : file;
}

/** The longest URL path served (bytes, as sent); a longer one gets 414 without a look at the disk. */
export const MAX_PATH_LENGTH = 4096;

/**
 * Errors of a file system look-up that mean "no such file here": missing,
 * a file used as a folder, a name or path too long, a symlink loop, a file
 * the server may not read.
 */
const NOT_FOUND_CODES = new Set([
  "ENOENT",
  "ENOTDIR",
  "ENAMETOOLONG",
  "ELOOP",
  "EACCES",
  "EPERM",
  "EISDIR",
  "ENXIO",
]);

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
    e instanceof Deno.errors.FilesystemLoop || e instanceof Deno.errors.IsADirectory ||
    e instanceof Deno.errors.PermissionDenied ||
    NOT_FOUND_CODES.has((e as { code?: unknown })?.code as string);
}

const SEPARATORS = /[\\/]/;

/**
 * Whether `real` is `realRoot` or lies under it, with no hidden part on the
 * way (a link inside the folder must not reach what {@linkcode fileFor}
 * refuses by name). Both are real paths (`Deno.realPath`).
 */
function isInside(realRoot: string, real: string): boolean {
  const rel = relative(realRoot, real);
  if (rel === "") return true;
  if (isAbsolute(rel)) return false; // another drive (Windows)
  return rel.split(SEPARATORS).every((part) => part !== "" && !part.startsWith("."));
}

const notFound = () => new Response("Not found\n", { status: 404 });

/**
 * Answer one request from the files under `root`: 404 for anything that is
 * not a regular file whose real path lies inside `root`'s real path (see the
 * module's documentation), 414 for a path over {@linkcode MAX_PATH_LENGTH}.
 */
export async function serveFile(root: string, request: Request): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const { pathname } = new URL(request.url);
  if (pathname.length > MAX_PATH_LENGTH) {
    return new Response("URI too long\n", { status: 414 });
  }
  let path = fileFor(root, pathname);
  if (path === null) return notFound();
  try {
    const realRoot = await Deno.realPath(root);
    let real = await Deno.realPath(path);
    if (!isInside(realRoot, real)) return notFound();
    let info = await Deno.stat(real);
    if (info.isDirectory) {
      path += "/index.html";
      real = await Deno.realPath(`${real}/index.html`);
      if (!isInside(realRoot, real)) return notFound();
      info = await Deno.stat(real);
    }
    // Not a named pipe (open would wait for a writer), a socket or a device.
    if (!info.isFile) return notFound();
    const file = await Deno.open(real, { read: true });
    let size: number;
    try {
      const opened = await file.stat();
      if (!opened.isFile) throw new Deno.errors.NotFound(); // replaced since the check
      size = opened.size;
    } catch (e) {
      file.close();
      throw e;
    }
    const headers = {
      "content-type": mimeType(path),
      "content-length": String(size),
      // The build overwrites files in place: always revalidate.
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    };
    if (request.method === "HEAD") {
      file.close();
      return new Response(null, { headers });
    }
    return new Response(file.readable, { headers });
  } catch (e) {
    if (isNotFound(e)) return notFound();
    throw e;
  }
}

/**
 * `handler`, with an error it throws answered by a 500 and one line through
 * `log` (method, path cut to 200 characters, message): a server that logged
 * a stack per failed request would let any client flood its output.
 */
export function oneLineErrors(
  handler: (request: Request) => Promise<Response>,
  log: (line: string) => void = console.error,
): (request: Request) => Promise<Response> {
  return async (request) => {
    try {
      return await handler(request);
    } catch (e) {
      let path = new URL(request.url).pathname;
      if (path.length > 200) path = `${path.slice(0, 200)}... (${path.length} characters)`;
      const message = (e instanceof Error ? `${e.name}: ${e.message}` : String(e))
        .replace(/\s+/g, " ").slice(0, 500);
      log(`error: ${request.method} ${path}: ${message}`);
      return new Response("Internal server error\n", { status: 500 });
    }
  };
}

/** Options of {@linkcode serveFolder}. */
export interface ServeOptions {
  /** 0 picks a free port. */
  port?: number;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /** Called with the page's URL once the server listens. */
  onListen?: (url: string) => void;
}

/** Serve the files under `root` on 127.0.0.1 until `options.signal` aborts. */
export function serveFolder(root: string, options: ServeOptions = {}): Deno.HttpServer {
  return Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 8000,
    signal: options.signal,
    onListen: ({ port }) => options.onListen?.(`http://127.0.0.1:${port}/`),
  }, oneLineErrors((request) => serveFile(root, request)));
}

const HELP = `Serve the built page (deno task site) on 127.0.0.1.

Usage: deno task serve [--dir site/dist] [--port 8000]

  --dir DIR   the folder to serve (default site/dist); it must hold index.html
  --port N    0 to 65535; 0 picks a free port (default 8000)

Only regular files inside DIR are served. A symlink may point elsewhere inside
DIR; one that leads out of it, a dangling one, and anything that is not a
regular file (a named pipe, a socket) give 404.
`;

async function main(args: string[]): Promise<void> {
  const { values: v } = parseFlags({
    args,
    options: { dir: { type: "string" }, port: { type: "string" }, help: { type: "boolean" } },
  });
  if (v.help) return void console.log(HELP);
  // Flags first: a bad --port is a usage error (exit 2) whatever the folder holds.
  const port = numberFlag("port", v.port, { integer: true, min: 0, max: 65535 }) ?? 8000;
  // A typed --dir is relative to the folder deno task ran from; the default is the project's.
  const dir = resolvePath(v.dir) ?? "site/dist";
  try {
    await Deno.stat(`${dir}/index.html`);
  } catch {
    throw new Error(`${dir}/index.html is missing: run "deno task site" first`);
  }
  const server = serveFolder(dir, {
    port,
    onListen: (url) => console.log(`Serving ${dir} at ${url} (Ctrl-C stops)`),
  });
  await server.finished;
}

if (import.meta.main) await runMain(() => main(Deno.args));
