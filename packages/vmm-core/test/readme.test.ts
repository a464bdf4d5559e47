import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it, vi } from "vitest";

// The README's first example must run as written and print what its `// →` comments say.
it("the README example runs and prints what it claims", async () => {
  const readme = readFileSync(join(import.meta.dirname, "../README.md"), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)![1];
  const claims = [...code.matchAll(/console\.log\(.*\); \/\/ → (\S+)/g)].map((m) => m[1]);
  expect(claims.length).toBe(4);

  const dir = join(import.meta.dirname, ".readme");
  mkdirSync(dir, { recursive: true });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "example.ts");
  writeFileSync(file, code.replace('from "@pagurus/vmm-core"', 'from "../../src/index.js"'));

  const printed: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((value: unknown) => {
    printed.push(String(value));
  });
  try {
    await import(file);
  } finally {
    log.mockRestore();
  }
  expect(printed).toEqual(claims);
});
