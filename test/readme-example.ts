import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { format } from "node:util";
import { vi } from "vitest";

/**
 * Runs the first ```ts block of a package's README as written (its import of `packageName`
 * pointed at the package's source) and returns what it printed with `console.log` (formatted
 * as console.log formats it), next to what its `// → value` comments claim it prints: the rest
 * of the line, less a trailing remark in parentheses.
 */
export async function runReadmeExample(
  testDir: string,
  packageName: string,
): Promise<{ claims: string[]; printed: string[] }> {
  const readme = readFileSync(join(testDir, "../README.md"), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)![1];
  const claims = [...code.matchAll(/console\.log\(.*\); \/\/ → (.+?)(?: \(.*\))?$/gm)].map((m) => m[1]);
  const dir = join(testDir, ".readme");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "example.ts");
  writeFileSync(file, code.replace(`from "${packageName}"`, 'from "../../src/index.js"'));
  const printed: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...values: unknown[]) => {
    printed.push(format(...values));
  });
  try {
    await import(file);
  } finally {
    log.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  }
  return { claims, printed };
}
