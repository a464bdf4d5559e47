/**
 * The bench:cpu loop kernel (packages/cpu/bench/loop.elf) is committed so a fresh clone needs no
 * NASM; rebuilding it from loop.asm must give the same bytes.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { requireCommand } from "../../../../tooling/test-support/src/tools.js";

const BENCH = fileURLToPath(new URL("../../bench/", import.meta.url));
const hasNasm = requireCommand(
  "nasm",
  ["-v"],
  "loop.elf is not checked against loop.asm (apt-get install nasm)",
);

describe.skipIf(!hasNasm)("bench loop kernel", () => {
  it("rebuilds from loop.asm to the committed loop.elf", () => {
    const out = join(mkdtempSync(join(tmpdir(), "pagurus-loop-")), "loop.elf");
    const r = spawnSync("bash", [join(BENCH, "build-loop.sh"), out], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(out), readFileSync(join(BENCH, "loop.elf")))).toBe(0);
  });

  it("is a Multiboot v1 ELF with its header in the first 8 KiB", () => {
    const elf = readFileSync(join(BENCH, "loop.elf"));
    expect(elf.readUInt32BE(0)).toBe(0x7f454c46);
    const at = elf.indexOf(Buffer.from([0x02, 0xb0, 0xad, 0x1b]));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThan(8192);
    expect((elf.readUInt32LE(at) + elf.readUInt32LE(at + 4) + elf.readUInt32LE(at + 8)) >>> 0).toBe(0);
  });
});
