import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");

function workspacePackageNames(): Set<string> {
  const names = new Set<string>();
  for (const group of ["packages", "apps"]) {
    for (const entry of readdirSync(join(ROOT, group))) {
      try {
        names.add(JSON.parse(readFileSync(join(ROOT, group, entry, "package.json"), "utf8")).name);
      } catch {
        // not a package folder
      }
    }
  }
  return names;
}

// `changeset version` refuses the whole release when one file is malformed, so each file is
// checked here the way @changesets/parse reads it: YAML frontmatter of `"name": bump` lines.
describe("changesets", () => {
  const dir = join(ROOT, ".changeset");
  const files = readdirSync(dir).filter((f) => f.endsWith(".md") && f !== "README.md");
  const names = workspacePackageNames();

  it("config is committed with independent versions and public access", () => {
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(config.access).toBe("public");
    expect(config.fixed).toEqual([]);
    expect(config.linked).toEqual([]);
  });

  it.each(files)("%s has frontmatter naming workspace packages and a summary", (file) => {
    const text = readFileSync(join(dir, file), "utf8");
    const match = /^---\n((?:"[^"]+": (?:major|minor|patch)\n)+)---\n\n(\S[\s\S]*)$/.exec(text);
    expect(
      match,
      `${file} must start with ---, "name": bump lines, ---, a blank line, a summary`,
    ).not.toBeNull();
    for (const line of match![1].trim().split("\n")) {
      const name = line.slice(1, line.indexOf('"', 1));
      expect(names, `${file} names ${name}`).toContain(name);
    }
  });
});
