import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { requireCommand } from "../../../tooling/test-support/src/tools.js";
import { runBare, runMonitored } from "./board.js";

const image = (name: string) =>
  new Uint8Array(readFileSync(join(import.meta.dirname, "guests", `${name}.bin`)));

describe("a guest under the monitor", () => {
  it("prints and ends exactly as it does bare", () => {
    const bare = runBare(image("basic"));
    expect(bare.end).toBe("exit");
    expect(bare.output).toContain("user mode syscall");
    expect(bare.output).toContain("user ds 0"); // IRET to ring 3 nulls DPL 0 data segments
    const monitored = runMonitored(image("basic"));
    expect({
      output: monitored.output,
      exit: monitored.exitCode,
      end: monitored.end,
      message: monitored.message,
    }).toEqual({
      output: bare.output,
      exit: bare.exitCode,
      end: "exit",
      message: null,
    });
  });
});

describe("the committed guest images", () => {
  const hasNasm = requireCommand(
    "nasm",
    ["-v"],
    "the committed guest images are not checked against their sources (apt-get install nasm)",
  );
  it.skipIf(!hasNasm).for(["basic", "probe"])("%s.bin is what its NASM source assembles to", (name) => {
    const dir = mkdtempSync(join(tmpdir(), "pagurus-guest-"));
    try {
      const out = join(dir, `${name}.bin`);
      execFileSync("nasm", ["-f", "bin", join(import.meta.dirname, "guests", `${name}.asm`), "-o", out]);
      expect(Buffer.compare(readFileSync(out), Buffer.from(image(name)))).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
