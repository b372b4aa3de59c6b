import assert from "node:assert/strict";
import { fileFor, mimeType, serveFile } from "../tasks/serve.ts";

Deno.test("fileFor() maps URLs into the folder and refuses ways out of it", () => {
  assert.equal(fileFor("/site", "/"), "/site/index.html");
  assert.equal(fileFor("/site/", "/models/vit.safetensors"), "/site/models/vit.safetensors");
  assert.equal(fileFor("/site", "/docs/"), "/site/docs/index.html");
  for (
    const bad of ["/%2e%2e/etc/passwd", "/a%2F..%2F..%2Fb", "/.git/config", "/a%5C..", "/%E0%A4%A"]
  ) {
    assert.equal(fileFor("/site", bad), null, bad);
  }
});

Deno.test("mimeType() gives browsers the types they insist on", () => {
  assert.equal(mimeType("app.js"), "text/javascript; charset=utf-8");
  assert.equal(mimeType("tfjs-backend-wasm-simd.wasm"), "application/wasm");
  assert.equal(mimeType("INDEX.HTML"), "text/html; charset=utf-8");
  assert.equal(mimeType("test.bin"), "application/octet-stream");
  assert.equal(mimeType("README"), "application/octet-stream");
});

Deno.test("serveFile() answers GET and HEAD from the folder, 404 and 405 otherwise", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/index.html`, "<!doctype html>");
    await Deno.writeTextFile(`${dir}/app.js`, "export {};");
    const get = (path: string, method = "GET") =>
      serveFile(dir, new Request(`http://127.0.0.1${path}`, { method }));
    const page = await get("/");
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(await page.text(), "<!doctype html>");
    const head = await get("/app.js", "HEAD");
    assert.equal(head.headers.get("content-length"), "10");
    assert.equal(await head.text(), "");
    const missing = await get("/nothing.js");
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const post = await get("/app.js", "POST");
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The project's root folder (where deno.json is). */
const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);

/** `deno task serve ARGS` from the project root, as a user starts it. */
function serveTask(args: string[]): Deno.ChildProcess {
  const { INIT_CWD: _, ...env } = Deno.env.toObject();
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "--config", `${ROOT}deno.json`, "serve", ...args],
    cwd: ROOT,
    env: { ...env, DEBUG: "0" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("deno task serve --port 99999 is a usage error naming --port and its range, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/index.html`, "<!doctype html>");
    // A folder without index.html too: the flag is checked first.
    for (
      const [from, port] of [
        [dir, "99999"],
        [dir, "-1"],
        [dir, "80.5"],
        [dir, "http"],
        [`${dir}/missing`, "99999"],
      ]
    ) {
      const out = await serveTask(["--dir", from, "--port", port]).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 2, `--port ${port}: ${err}`);
      assert.match(err, /--port must be an integer >= 0 and <= 65535/, err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
