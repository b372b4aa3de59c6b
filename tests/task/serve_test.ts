import assert from "node:assert/strict";
import { serveFile } from "../../tasks/serve.ts";

/** The project's root folder (where deno.json is). */
const ROOT = decodeURIComponent(new URL("../..", import.meta.url).pathname);

/**
 * A folder to serve, `base/site`, with symlinks out of it in every form
 * (absolute and relative, to a file and to a folder, dangling, looping) beside
 * a secret file and folder outside it. `refused` must give 404, `served` 200
 * with the given body.
 */
async function linkFarm(base: string) {
  const root = `${base}/site`;
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  await Deno.mkdir(`${root}/.hidden`);
  await Deno.mkdir(`${base}/outdir`);
  await Deno.writeTextFile(`${root}/index.html`, "<!doctype html>");
  await Deno.writeTextFile(`${root}/app.js`, "export {};");
  await Deno.writeTextFile(`${root}/sub/page.html`, "page");
  await Deno.writeTextFile(`${root}/.hidden/key.txt`, "hidden");
  await Deno.writeTextFile(`${base}/secret.txt`, "SECRET");
  await Deno.writeTextFile(`${base}/outdir/secret.txt`, "SECRET");
  await Deno.writeTextFile(`${base}/outdir/index.html`, "SECRET");
  await Deno.symlink(`${base}/secret.txt`, `${root}/leak.txt`); // absolute, to a file
  await Deno.symlink(`${base}/outdir`, `${root}/etcdir`); // absolute, to a folder
  await Deno.symlink("../secret.txt", `${root}/up.txt`); // relative, to a file
  await Deno.symlink("../outdir", `${root}/updir`); // relative, to a folder
  await Deno.symlink("/etc/passwd", `${root}/passwd.txt`);
  await Deno.symlink(`${base}/missing.txt`, `${root}/dangling.txt`);
  await Deno.symlink("loop.txt", `${root}/loop.txt`); // ELOOP
  await Deno.symlink(".hidden/key.txt", `${root}/key.txt`); // inside, but a hidden file
  await Deno.symlink("app.js", `${root}/inside.js`); // inside: served
  await Deno.symlink("sub", `${root}/insidedir`); // inside: served
  await Deno.symlink("site", `${base}/rootlink`); // the served folder itself, through a link
  const refused = [
    "/leak.txt",
    "/etcdir/secret.txt",
    "/etcdir/",
    "/etcdir",
    "/up.txt",
    "/updir/secret.txt",
    "/updir/",
    "/passwd.txt",
    "/dangling.txt",
    "/loop.txt",
    "/key.txt",
  ];
  const served: Record<string, string> = {
    "/": "<!doctype html>",
    "/app.js": "export {};",
    "/sub/page.html": "page",
    "/inside.js": "export {};",
    "/insidedir/page.html": "page",
  };
  return { root, refused, served };
}

Deno.test("serveFile() serves no symlink out of the folder, and no special file", async () => {
  const base = await Deno.makeTempDir();
  try {
    const { root, refused, served } = await linkFarm(base);
    for (const from of [root, `${base}/rootlink`]) {
      const get = (path: string, method = "GET") =>
        serveFile(from, new Request(`http://127.0.0.1${path}`, { method }));
      for (const path of refused) {
        for (const method of ["GET", "HEAD"]) {
          const r = await get(path, method);
          const body = await r.text();
          assert.equal(
            r.status,
            404,
            `${method} ${path} from ${from}: ${body}`,
          );
          assert.doesNotMatch(body, /SECRET|hidden|root:/);
        }
      }
      for (const [path, body] of Object.entries(served)) {
        const r = await get(path);
        assert.equal(r.status, 200, `${path} from ${from}`);
        assert.equal(await r.text(), body, path);
      }
    }
    // A named pipe in the folder: opening it to read would wait for a writer.
    const fifo = `${root}/pipe.txt`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    const pending = serveFile(root, new Request("http://127.0.0.1/pipe.txt"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const first = await Promise.race([
      pending,
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 2000)),
    ]);
    clearTimeout(timer);
    // Still waiting after 2 s: it opened the pipe. Write to it, so that it ends.
    if (first === null) (await Deno.open(fifo, { write: true })).close();
    const r = await pending;
    await r.body?.cancel();
    assert.equal(
      r.status,
      404,
      first === null ? "it opened the pipe and waited" : "",
    );
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("serveFile() answers long and impossible paths with 404 or 414, not an error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/index.html`, "<!doctype html>");
    const get = (path: string) => serveFile(dir, new Request(`http://127.0.0.1${path}`));
    // 40 KB: over any sane limit.
    const deep = await get("/" + "a/".repeat(20000));
    assert.equal(deep.status, 414);
    await deep.body?.cancel();
    // Under the limit, but more than the OS takes: ENAMETOOLONG.
    for (
      const path of [
        "/" + "a".repeat(300),
        "/" + "a/".repeat(1500) + "x",
        "/index.html/x",
      ]
    ) {
      const r = await get(path);
      assert.equal(r.status, 404, path.slice(0, 40));
      await r.body?.cancel();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

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

/**
 * `deno task serve --dir DIR --port 0`, once it listens: its URL, and `stop`,
 * which ends it and gives what it wrote to stderr.
 */
async function startServe(
  dir: string,
): Promise<{ url: string; stop: () => Promise<string> }> {
  const child = serveTask(["--dir", dir, "--port", "0"]);
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    await lines.cancel();
    try {
      child.kill("SIGTERM");
    } catch { /* it has exited */ }
    await child.status;
    return await stderr;
  };
  // The task prints its URL once it listens; give it a minute to start.
  let out = "";
  const deadline = Date.now() + 60_000;
  while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out) && Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    out += value;
  }
  const url = out.match(/http:\/\/127\.0\.0\.1:\d+\//)?.[0];
  if (!url) {
    throw new Error(
      `no URL in ${JSON.stringify(out)}; stderr: ${await stop()}`,
    );
  }
  return { url, stop };
}

const fetchFrom = (url: string, path: string) =>
  fetch(new URL(path, url), {
    signal: AbortSignal.timeout(10_000),
    redirect: "manual",
  });

Deno.test("deno task serve: a 40 KB path gets 414, a too long name 404, no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/index.html`, "<!doctype html>");
  const { url, stop } = await startServe(dir);
  let stderr: string;
  try {
    for (
      const [path, status] of [["/" + "a/".repeat(20000), 414], [
        "/" + "a".repeat(300),
        404,
      ]] as const
    ) {
      const r = await fetchFrom(url, path);
      await r.body?.cancel();
      assert.equal(r.status, status, path.slice(0, 40));
    }
  } finally {
    stderr = await stop();
    await Deno.remove(dir, { recursive: true });
  }
  assert.doesNotMatch(stderr, /^\s+at /m, stderr.slice(0, 2000));
});

Deno.test("deno task serve: no symlink out of the folder over HTTP", async () => {
  const base = await Deno.makeTempDir();
  const { refused, served } = await linkFarm(base);
  const { url, stop } = await startServe(`${base}/site`);
  try {
    for (const path of refused) {
      const r = await fetchFrom(url, path);
      const body = await r.text();
      assert.equal(r.status, 404, `${path}: ${body}`);
      assert.doesNotMatch(body, /SECRET|hidden/);
    }
    for (const [path, body] of Object.entries(served)) {
      const r = await fetchFrom(url, path);
      assert.equal(r.status, 200, path);
      assert.equal(await r.text(), body, path);
    }
  } finally {
    await stop();
    await Deno.remove(base, { recursive: true });
  }
});

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
