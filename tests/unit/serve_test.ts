import assert from "node:assert/strict";
import { fileFor, mimeType, oneLineErrors, serveFile } from "../../tasks/serve.ts";

Deno.test("fileFor() maps URLs into the folder and refuses ways out of it", () => {
  assert.equal(fileFor("/site", "/"), "/site/index.html");
  assert.equal(
    fileFor("/site/", "/models/vit.safetensors"),
    "/site/models/vit.safetensors",
  );
  assert.equal(fileFor("/site", "/docs/"), "/site/docs/index.html");
  for (
    const bad of [
      "/%2e%2e/etc/passwd",
      "/a%2F..%2F..%2Fb",
      "/.git/config",
      "/a%5C..",
      "/%E0%A4%A",
    ]
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

Deno.test("oneLineErrors() answers an unexpected error with a 500 and one short line", async () => {
  const lines: string[] = [];
  const handler = oneLineErrors(() => {
    const e = new Error("disk on fire\nsecond line");
    e.stack = "Error: disk on fire\n    at somewhere (file.ts:1:1)";
    return Promise.reject(e);
  }, (line) => lines.push(line));
  const r = await handler(new Request(`http://127.0.0.1/${"b".repeat(5000)}`));
  assert.equal(r.status, 500);
  assert.equal(await r.text(), "Internal server error\n");
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /^error: GET \/b{199}\.\.\. \(5001 characters\): Error: disk on fire second line$/,
  );
  const ok = await oneLineErrors(() => Promise.resolve(new Response("fine")))(
    new Request("http://127.0.0.1/"),
  );
  assert.equal(await ok.text(), "fine");
});
