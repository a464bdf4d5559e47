import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const example = readFileSync(new URL("./readme-example.ts", import.meta.url), "utf8");

describe("README", () => {
  it("its first ts block is test/readme-example.ts, verbatim", () => {
    const block = /```ts\n([\s\S]*?)```/.exec(readme);
    expect(block?.[1]).toBe(example);
  });

  it("the example runs (its asserts pass)", async () => {
    await expect(import("./readme-example.js")).resolves.toBeDefined();
  });
});
