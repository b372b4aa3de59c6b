// The documentation's links stay inside the repository and keep working:
// every relative link in README.md and docs/**/*.md (markdown inline links
// and images, reference definitions, HTML src= and href=) names a file or
// folder that exists, and none leaves the repository root. And the README
// stays one screen long.
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const README_MAX_LINES = 200;

/** A link's target as written, and the line it is on (1-based). */
interface Link {
  target: string;
  line: number;
}

/** Blanks a match but keeps its newlines, so that line numbers stay right. */
function blank(text: string): string {
  return text.replace(/[^\n]/g, " ");
}

/** Link targets in a markdown text, skipping fenced code blocks and inline code. */
function linkTargets(markdown: string): Link[] {
  // Fenced code blocks: an opening fence of 3+ backticks or tildes, closed by
  // a fence of the same character at least as long.
  const lines = markdown.split("\n");
  let fence: string | null = null;
  const kept = lines.map((line) => {
    const m = line.match(/^ {0,3}(`{3,}|~{3,})/);
    if (fence === null) {
      if (m) {
        fence = m[1];
        return "";
      }
      return line;
    }
    if (
      m && m[1][0] === fence[0] && m[1].length >= fence.length &&
      !/\S/.test(line.slice(line.indexOf(m[1]) + m[1].length))
    ) {
      fence = null;
    }
    return "";
  });
  // Inline code spans, which may run over a line break.
  const text = kept.join("\n").replace(/(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g, blank);

  const links: Link[] = [];
  const lineOf = (index: number) => text.slice(0, index).split("\n").length;
  const add = (target: string, index: number) => {
    const t = target.trim().replace(/^<(.*)>$/, "$1");
    links.push({ target: t, line: lineOf(index) });
  };
  // [text](target "title") and ![alt](target): every "](" opens a destination.
  for (
    const m of text.matchAll(
      /\]\(\s*(<[^>\n]*>|[^)\s]*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g,
    )
  ) {
    add(m[1], m.index!);
  }
  // [label]: target
  for (const m of text.matchAll(/^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)/gm)) {
    add(m[1], m.index!);
  }
  // <img src="..."> and <a href="...">
  for (const m of text.matchAll(/<[a-z][^>]*?\s(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
    add(m[1] ?? m[2], m.index!);
  }
  return links;
}

/** What is wrong with the links of one markdown file: one line per broken link. */
async function linkProblems(file: URL, markdown: string): Promise<string[]> {
  const name = decodeURIComponent(file.pathname).slice(decodeURIComponent(ROOT.pathname).length);
  const problems: string[] = [];
  for (const { target, line } of linkTargets(markdown)) {
    const where = `${name}:${line}: (${target})`;
    if (target === "") {
      problems.push(`${where} empty link`);
      continue;
    }
    if (target.startsWith("#")) continue; // an anchor on the same page
    if (/^(https?|mailto):/i.test(target)) continue;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) {
      problems.push(`${where} not a relative link`);
      continue;
    }
    if (target.startsWith("/")) {
      problems.push(`${where} absolute path: write it relative to the file`);
      continue;
    }
    const path = target.replace(/[?#].*$/, "");
    const url = new URL(path, file);
    if (!url.href.startsWith(ROOT.href)) {
      problems.push(`${where} leaves the repository`);
      continue;
    }
    try {
      await Deno.stat(url);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      problems.push(`${where} no such file or folder`);
    }
  }
  return problems;
}

/** README.md and every markdown file under docs/. */
async function markdownFiles(): Promise<URL[]> {
  const files = [new URL("README.md", ROOT)];
  const walk = async (dir: URL) => {
    const entries = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir));
      else if (entry.isFile && entry.name.endsWith(".md")) files.push(new URL(entry.name, dir));
    }
  };
  await walk(new URL("docs/", ROOT));
  return files;
}

Deno.test(`README.md has at most ${README_MAX_LINES} lines`, async () => {
  const text = await Deno.readTextFile(new URL("README.md", ROOT));
  const lines = text.endsWith("\n") ? text.split("\n").length - 1 : text.split("\n").length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines: move detail into docs/`);
});

Deno.test("every relative link in README.md and docs/**/*.md resolves inside the repository", async () => {
  const files = await markdownFiles();
  assert.ok(files.length > 1, "no markdown files found under docs/");
  const problems: string[] = [];
  let links = 0;
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    links += linkTargets(text).length;
    problems.push(...await linkProblems(file, text));
  }
  assert.ok(links > 0, "no links found: is the link pattern broken?");
  assert.deepEqual(problems, []);
});

Deno.test("the link check reports broken and escaping links, and skips code", async () => {
  const markdown = [
    "[fine](deno.json) and ![fine too](docs/ 'a folder') and [anchor](#results)",
    "[web](https://example.com/x) [mail](mailto:a@b.c)",
    "[broken](docs/no-such-page.md#part)",
    "[escapes](../outside.md)",
    'and <img src="no-such.png">',
    "[ref]: <also-missing.md>",
    "`[in code](nope-1.md)` and ``a `[x](nope-2.md)` b``",
    "```md",
    "[in a fence](nope-3.md)",
    "```",
    "[absolute](/etc/passwd)",
  ].join("\n");
  const problems = await linkProblems(new URL("README.md", ROOT), markdown);
  assert.deepEqual(problems, [
    "README.md:3: (docs/no-such-page.md#part) no such file or folder",
    "README.md:4: (../outside.md) leaves the repository",
    "README.md:11: (/etc/passwd) absolute path: write it relative to the file",
    "README.md:6: (also-missing.md) no such file or folder",
    "README.md:5: (no-such.png) no such file or folder",
  ]);
});
