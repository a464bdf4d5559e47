import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { requireCommand } from "../../../tooling/test-support/src/tools.js";
import { CODE_PAGES, PAGE_SIZE, STUB_SIZE, stubImage } from "../src/index.js";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const source = join(pkg, "stub", "stub.asm");
const committedBin = new Uint8Array(readFileSync(join(pkg, "stub", "stub.bin")));
const hasNasm = requireCommand(
  "nasm",
  ["-v"],
  "stub/stub.asm is not reassembled and compared with the committed image (apt-get install nasm)",
);
const work = mkdtempSync(join(tmpdir(), "pagurus-stub-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function assemble(org?: number): Uint8Array {
  const out = join(work, `stub-${org ?? "default"}.bin`);
  const defines = org === undefined ? [] : [`-DSTUB_ORG=0x${org.toString(16)}`];
  execFileSync("nasm", ["-f", "bin", ...defines, "-o", out, source]);
  return new Uint8Array(readFileSync(out));
}

describe("committed image", () => {
  it("the generated TS module holds exactly stub/stub.bin", () => {
    expect(committedBin.length).toBe(STUB_SIZE);
    expect(Buffer.from(stubImage()).equals(Buffer.from(committedBin))).toBe(true);
  });

  it.skipIf(!hasNasm)("reassembling stub/stub.asm gives the committed bytes", () => {
    const fresh = assemble();
    const firstDiff = fresh.findIndex((b, i) => b !== committedBin[i]);
    expect(firstDiff, "rebuild with: node packages/vmm-stub/scripts/build-stub.mjs").toBe(-1);
    expect(fresh.length).toBe(committedBin.length);
  });

  it.skipIf(!hasNasm)("has no absolute self-address: assembled at two ORGs, every byte is the same", () => {
    const a = assemble(0);
    const b = assemble(0x12345000);
    const c = assemble(0xfff00000);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(true);
  });

  it("code pages hold code, and the unused tail of the entry page is int3 padding", () => {
    const img = stubImage();
    for (const p of CODE_PAGES) {
      const page = img.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
      expect(page.some((b) => b !== 0)).toBe(true);
    }
  });
});
