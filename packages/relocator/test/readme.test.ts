import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";

describe("README", () => {
  it("its first example is test/readme-example.ts, and it runs", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const example = readFileSync(new URL("./readme-example.ts", import.meta.url), "utf8");
    expect(block).toBe(example.replace('"../src/index.js"', '"@pagurus/relocator"'));
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const { readmeResult } = await import("./readme-example.js");
    const lines = log.mock.calls.map((c) => c.join(" "));
    log.mockRestore();
    expect(lines[0]).toMatch(/^conflict-unused [0-9a-f]+$/);
    expect(lines[1]).toBe("conflict-random 5");
    expect(lines.some((l) => l.startsWith("periodic-hot"))).toBe(true);
    expect(readmeResult.byReason["periodic-hot"]).toBeGreaterThan(0);
    expect(readmeResult.phase).toBe("settled");
  });
});
