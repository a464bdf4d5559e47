import { readFileSync } from "node:fs";
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
