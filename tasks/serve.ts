/**
 * `deno task serve [--dir site/dist] [--port 8000]`: serve a built folder
 * (what `deno task site` writes) on 127.0.0.1 with the MIME types browsers
 * insist on (`application/wasm` for streaming compilation, `text/javascript`
 * for module scripts), and print the URL. Read-only, GET and HEAD only.
 */
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

/** Answer one request from the files under `root`. */
export async function serveFile(root: string, request: Request): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  let path = fileFor(root, new URL(request.url).pathname);
  if (path === null) return new Response("Not found\n", { status: 404 });
  try {
    if ((await Deno.stat(path)).isDirectory) path += "/index.html";
    const file = await Deno.open(path, { read: true });
    const { size } = await file.stat();
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
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return new Response("Not found\n", { status: 404 });
    }
    throw e;
  }
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
  }, (request) => serveFile(root, request));
}

const HELP = `Serve the built page (deno task site) on 127.0.0.1.

Usage: deno task serve [--dir site/dist] [--port 8000]

  --dir DIR   the folder to serve (default site/dist); it must hold index.html
  --port N    0 to 65535; 0 picks a free port (default 8000)
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
