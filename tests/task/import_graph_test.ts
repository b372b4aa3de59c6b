// The import graph of src/, as `deno info --json` resolves it: no cycles,
// and no arrow from a lower folder to a higher one. The folders' order, low
// to high, is the architecture; a new folder must be placed in it.
import assert from "node:assert/strict";
import { relative } from "node:path";
import { ROOT } from "../_tasks.ts";

/** Each folder of src/ and its level: a module may import only from lower levels (or its own folder). */
const LEVELS: Record<string, number> = {
  core: 0,
  layers: 1,
  data: 1,
  cli: 1,
  // Kernels see only core: the custom ops' names live in core/ops.ts, not in the layers.
  backend: 1,
  models: 2,
  train: 3,
  bench: 4,
  report: 4,
  compare: 5,
  entries: 6,
};

/** Every module of src/ and what it imports within src/, from `deno info --json`. */
async function srcGraph(): Promise<Map<string, string[]>> {
  const entries: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) entries.push(path);
    }
  };
  await walk(`${ROOT}src`);
  const graph = new Map<string, string[]>();
  // One `deno info` per entry would take minutes: a module importing all of them is one call.
  const all = await Deno.makeTempFile({ dir: `${ROOT}src`, suffix: "_graph_tmp.ts" });
  try {
    await Deno.writeTextFile(all, entries.map((e) => `import "${e}";`).join("\n"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", all],
      cwd: ROOT,
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    const src = new URL("../../src/", import.meta.url).href;
    const inSrc = (s: string) => s.startsWith(src) && !s.endsWith("_graph_tmp.ts");
    for (const m of info.modules as { specifier: string; dependencies?: unknown[] }[]) {
      if (!inSrc(m.specifier)) continue;
      const deps = (m.dependencies ?? []) as {
        code?: { specifier?: string };
        type?: { specifier?: string };
      }[];
      const targets = deps.flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .filter((s): s is string => s !== undefined && inSrc(s));
      graph.set(name(m.specifier), [...new Set(targets.map(name))]);
    }
  } finally {
    await Deno.remove(all);
  }
  return graph;
}

const name = (url: string) => relative(`${ROOT}src`, decodeURIComponent(new URL(url).pathname));

/** The cycles of `graph` (strongly connected components of more than one module, or a self-import). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const order = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), found: string[][] = [];
  const visit = (v: string) => {
    order.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!order.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
    }
    if (low.get(v) === order.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!order.has(v)) visit(v);
  return found;
}

const graph = await srcGraph();

Deno.test("src/ has no import cycle", () => {
  assert.ok(graph.size > 50, `only ${graph.size} modules found`);
  assert.deepEqual(cycles(graph), []);
});

Deno.test("src/ imports only from its own folder or a lower one", () => {
  const folder = (m: string) => m.split("/")[0];
  const upward: string[] = [];
  for (const [from, targets] of graph) {
    const level = LEVELS[folder(from)];
    assert.ok(level !== undefined, `src/${folder(from)}/ has no level in LEVELS`);
    for (const to of targets) {
      if (folder(to) !== folder(from) && !(LEVELS[folder(to)] < level)) {
        upward.push(`${from} -> ${to}`);
      }
    }
  }
  assert.deepEqual(upward, []);
});

Deno.test("cycles() finds a cycle (the test can fail)", () => {
  const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.deepEqual(cycles(g), [["a", "b", "c"]]);
});
