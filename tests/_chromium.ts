// Headless Chromium driven over the DevTools protocol (a WebSocket from
// Deno), for the browser tests: no browser download, no npm driver. Finds
// the system's chromium (CHROMIUM=/path overrides), starts it with a fresh
// profile, opens pages, evaluates expressions, collects console errors and
// takes screenshots.

/**
 * The Chromium executable: `$CHROMIUM`, else the first one on `PATH`; null
 * if none (or `CHROMIUM=none`, to skip the browser tests on purpose).
 */
export function findChromium(): string | null {
  const override = Deno.env.get("CHROMIUM");
  if (override === "none") return null;
  if (override) return override;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return null;
}

type Handler = (params: Record<string, unknown>) => void;

/** A running headless Chromium and its DevTools connection. */
export class Chromium {
  #process: Deno.ChildProcess;
  #socket: WebSocket;
  #profile: string;
  #nextId = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #handlers = new Map<string, Handler[]>();

  private constructor(process: Deno.ChildProcess, socket: WebSocket, profile: string) {
    this.#process = process;
    this.#socket = socket;
    this.#profile = profile;
    socket.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id)!;
        this.#pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`DevTools: ${msg.error.message}`));
        else p.resolve(msg.result);
      } else {
        const key = `${msg.sessionId ?? ""}:${msg.method}`;
        for (const h of this.#handlers.get(key) ?? []) h(msg.params);
      }
    };
  }

  /** Start `executable` headless and connect to it. */
  static async launch(executable: string): Promise<Chromium> {
    const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
    const process = new Deno.Command(executable, {
      args: [
        "--headless=new",
        // Containers (and root) rarely have the namespaces the sandbox needs;
        // these tests load only pages this repository builds.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--mute-audio",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Chromium prints its DevTools endpoint on stderr once it listens.
    const reader = process.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = Date.now() + 30_000;
    while (!/DevTools listening on (ws:\S+)/.test(seen)) {
      const { value, done } = await reader.read();
      if (done || Date.now() > deadline) {
        process.kill();
        throw new Error(`${executable} did not start its DevTools endpoint:\n${seen}`);
      }
      seen += value;
    }
    // Keep draining stderr so Chromium never blocks on a full pipe.
    (async () => {
      while (!(await reader.read()).done) { /* discard */ }
    })().catch(() => {});
    const url = seen.match(/DevTools listening on (ws:\S+)/)![1];
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    return new Chromium(process, socket, profile);
  }

  /** Send one DevTools command (to a page when `sessionId` is given). */
  send<R = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<R> {
    const id = this.#nextId++;
    this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) =>
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    );
  }

  /** Call `handler` for each `method` event of the session. */
  on(sessionId: string, method: string, handler: Handler): void {
    const key = `${sessionId}:${method}`;
    this.#handlers.set(key, [...(this.#handlers.get(key) ?? []), handler]);
  }

  /** A new tab, `width` CSS pixels wide, recording its console errors. */
  async newPage(width = 1200, height = 900): Promise<Page> {
    const { targetId } = await this.send<{ targetId: string }>("Target.createTarget", {
      url: "about:blank",
    });
    const { sessionId } = await this.send<{ sessionId: string }>("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this, sessionId);
    await Promise.all([
      page.send("Runtime.enable"),
      page.send("Log.enable"),
      page.send("Page.enable"),
      page.send("Emulation.setDeviceMetricsOverride", {
        width,
        height,
        deviceScaleFactor: 1,
        mobile: false,
      }),
    ]);
    return page;
  }

  /** Stop the browser and remove its profile. */
  async close(): Promise<void> {
    try {
      await this.send("Browser.close");
    } catch { /* already gone */ }
    this.#socket.close();
    const timer = setTimeout(() => this.#process.kill("SIGKILL"), 5_000);
    await this.#process.status;
    clearTimeout(timer);
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** One tab. */
export class Page {
  /** Console errors, uncaught exceptions and failed loads, as text. */
  readonly errors: string[] = [];
  /** Every console message, as `type: text`, for diagnosing failures. */
  readonly console: string[] = [];

  constructor(readonly browser: Chromium, readonly sessionId: string) {
    browser.on(sessionId, "Runtime.consoleAPICalled", (p) => {
      const args = p.args as { value?: unknown; description?: string }[];
      const text = args.map((a) => a.description ?? String(a.value)).join(" ");
      this.console.push(`${p.type}: ${text}`);
      if (p.type === "error" || p.type === "assert") this.errors.push(`console.${p.type}: ${text}`);
    });
    browser.on(sessionId, "Runtime.exceptionThrown", (p) => {
      const d = p.exceptionDetails as { text: string; exception?: { description?: string } };
      this.errors.push(`uncaught: ${d.exception?.description ?? d.text}`);
    });
    browser.on(sessionId, "Log.entryAdded", (p) => {
      const e = p.entry as { level: string; text: string; url?: string };
      if (e.level === "error") this.errors.push(`log: ${e.text} ${e.url ?? ""}`.trim());
    });
  }

  /** Send a DevTools command to this tab. */
  send<R = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}) {
    return this.browser.send<R>(method, params, this.sessionId);
  }

  /** Load `url` and wait for its load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) =>
      this.browser.on(this.sessionId, "Page.loadEventFired", () => resolve())
    );
    await this.send("Page.navigate", { url });
    await loaded;
  }

  /** The JSON value of `expression` in the page (promises awaited). */
  async evaluate<R = unknown>(expression: string): Promise<R> {
    const r = await this.send<{
      result: { value?: R };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    }>("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) {
      const d = r.exceptionDetails;
      throw new Error(`In the page: ${d.exception?.description ?? d.text}`);
    }
    return r.result.value as R;
  }

  /** Poll `expression` until it is truthy; its value, or an error after `timeoutMs`. */
  async waitFor<R = unknown>(expression: string, timeoutMs = 60_000): Promise<R> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const value = await this.evaluate<R>(expression);
      if (value) return value;
      if (this.errors.length > 0) {
        throw new Error(`The page reported errors while waiting:\n${this.errors.join("\n")}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for ${expression}; console:\n${
            this.console.slice(-20).join("\n")
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send<{ data: string }>("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    });
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  }
}
