import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";

describe("README", () => {
  it("its first example is test/readme-example.ts, and it prints what its comments say", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const example = readFileSync(new URL("./readme-example.ts", import.meta.url), "utf8");
    expect(block).toBe(example.replace('"../src/index.js"', '"@pagurus/vmm-stub"'));
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("./readme-example.js");
    const lines = log.mock.calls.map((c) => c.join(" "));
    log.mockRestore();
    const promised = [...example.matchAll(/\/\/ ([0-9a-f]+ [0-9a-f]+)$/gm)].map((m) => m[1]);
    expect(lines).toEqual(promised);
  });
});
