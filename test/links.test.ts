/**
 * Every link a user can follow stays inside the repository (issue 16 point 7): relative links in
 * the READMEs and docs/ point at files that exist (and at headings that exist, for #anchors),
 * repository paths named in the published sources' comments (which become the .d.ts JSDoc)
 * exist, and nothing points at the folder beside the clone that users never get.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

/** Files under `dir` (relative to the root) whose names pass `keep`, skipping build output. */
function files(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(join(root, d))) {
      if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
      const path = join(d, name);
      if (statSync(join(root, path)).isDirectory()) walk(path);
      else if (keep(name)) out.push(path);
    }
  };
  walk(dir);
  return out;
}

const markdown = [
  "README.md",
  ...files("docs", (n) => n.endsWith(".md")),
  ...files("packages", (n) => n === "README.md"),
  ...files("apps", (n) => n === "README.md"),
  ...files("tooling", (n) => n.endsWith(".md")),
];
/** What a package publishes besides its README: its sources (the .d.ts JSDoc comes from them) and the stub. */
const published = [
  ...files("packages", (n) => n.endsWith(".ts") || n.endsWith(".asm")).filter((f) =>
    /\/(src|stub)\//.test(f),
  ),
  ...files("apps", (n) => n.endsWith(".ts")).filter((f) => f.includes("/src/")),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, "")
    .replace(/[^\p{L}\p{N} -]/gu, "")
    .replaceAll(" ", "-");
}

function anchors(file: string): Set<string> {
  const text = readFileSync(join(root, file), "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1])));
}

describe("links in the READMEs and docs", () => {
  it.each(markdown)("%s", (file) => {
    const text = readFileSync(join(root, file), "utf8").replace(/```[\s\S]*?```/g, "");
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // a web address: not a file of the repository
      const [path, hash] = target.split("#");
      const resolved = path === "" ? join(root, file) : join(root, dirname(file), path);
      if (relative(root, resolved).startsWith("..")) broken.push(`${target} (outside the repository)`);
      else if (!existsSync(resolved)) broken.push(`${target} (no such file)`);
      else if (
        hash !== undefined &&
        resolved.endsWith(".md") &&
        !anchors(relative(root, resolved)).has(hash)
      ) {
        broken.push(`${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("references in what the packages publish", () => {
  const outside = /\.\.\/shared|DESIGN\.md|claims\.txt/;

  it("name no file outside the repository", () => {
    const hits = [...markdown, ...published].filter((f) => outside.test(readFileSync(join(root, f), "utf8")));
    expect(hits).toEqual([]);
  });

  it("name only repository paths that exist", () => {
    const missing: string[] = [];
    for (const file of published) {
      const text = readFileSync(join(root, file), "utf8");
      for (const [path] of text.matchAll(
        /\b(?:docs|packages|apps|tooling)\/[\w./-]*\w\.(?:md|ts|asm|json|sh|mjs)\b/g,
      )) {
        if (!existsSync(join(root, path))) missing.push(`${file}: ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
