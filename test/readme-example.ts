import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { vi } from "vitest";

/**
 * Runs the first ```ts block of a package's README as written (its import of `packageName`
 * pointed at the package's source) and returns what it printed with `console.log`, next to
 * what its `// → value` comments claim it prints.
 */
export async function runReadmeExample(
  testDir: string,
  packageName: string,
): Promise<{ claims: string[]; printed: string[] }> {
  const readme = readFileSync(join(testDir, "../README.md"), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)![1];
  const claims = [...code.matchAll(/console\.log\(.*\); \/\/ → (\S+)/g)].map((m) => m[1]);
  const dir = join(testDir, ".readme");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "example.ts");
  writeFileSync(file, code.replace(`from "${packageName}"`, 'from "../../src/index.js"'));
  const printed: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((value: unknown) => {
    printed.push(String(value));
  });
  try {
    await import(file);
  } finally {
    log.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  }
  return { claims, printed };
}
