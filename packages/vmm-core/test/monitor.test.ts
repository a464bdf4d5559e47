import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
  it.for(["basic", "probe"])("%s.bin is what its NASM source assembles to", (name, context) => {
    try {
      execFileSync("nasm", ["-v"]);
    } catch {
      console.warn(`nasm is not installed: the committed ${name}.bin is used as it is`);
      context.skip();
    }
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
