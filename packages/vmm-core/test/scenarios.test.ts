import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type RunResult, runMonitored } from "./board.js";

// The scenario kernels live with the other test kernels (tooling/guests), built by NASM there
// and committed with QEMU's recorded output. Under the monitor each must print exactly what
// it prints on QEMU (the app's tests also compare it with the bare machine).
const guests = join(import.meta.dirname, "../../../tooling/guests");
const kernel = (name: string) => new Uint8Array(readFileSync(join(guests, "build", `${name}.elf`)));

function asOnQemu(name: string, monitored: RunResult): void {
  const expected = readFileSync(join(guests, "expected", `${name}.txt`), "latin1");
  const status = Number(readFileSync(join(guests, "expected", `${name}.exit`), "utf8").trim());
  expect(monitored.message ?? null).toBeNull();
  expect({ output: monitored.output, exit: monitored.exitCode, end: monitored.end }).toEqual({
    output: expected,
    exit: (status - 1) / 2, // QEMU exits with (value << 1) | 1
    end: "exit",
  });
  expect(monitored.stubCodeIntact).toBe(true);
}

describe("scenario kernels under the monitor", () => {
  it("(a) the guest maps pages over the stub: it moves to an unused region (claims 1, 5, 9)", () => {
    const monitored = runMonitored(kernel("vmm_map_over"));
    asOnQemu("vmm_map_over", monitored);
    const moves = monitored.stats!.relocations;
    expect(moves.length).toBeGreaterThanOrEqual(1);
    expect(moves[0].reason).toBe("conflict-unused");
    expect(moves[0].from).toBe(0xffffa000);
    expect(moves[0].to < 0xff800000 || moves[0].to >= 0x100000000).toBe(true);
    expect(monitored.stats!.stubBase).toBe(moves.at(-1)!.to);
  }, 120_000);

  it("(b) paging turned on over the stub, then GDT and IDT moved where it was (claims 1, 5, 9)", () => {
    const monitored = runMonitored(kernel("vmm_tables_over"));
    asOnQemu("vmm_tables_over", monitored);
    const moves = monitored.stats!.relocations;
    expect(moves.map((m) => m.reason)).toEqual(["conflict-unused"]);
    expect(moves[0].to >>> 22).not.toBe(0x3ff);
  }, 120_000);

  it("(c) the guest maps all 4 GiB: random region, displaced content served from the core (claims 10, 11)", () => {
    const monitored = runMonitored(kernel("vmm_fill_all"), { seed: 1 });
    asOnQemu("vmm_fill_all", monitored);
    const moves = monitored.stats!.relocations;
    expect(moves[0].reason).toBe("conflict-random");
    expect(moves[0].displaced.length).toBe(5);
    // The kernel writes and reads every page of slots 16-1023 (0x04000000 up): seed 1 puts the
    // stub there, so the displaced pages are touched and the core must have served them.
    expect(moves[0].to).toBeGreaterThanOrEqual(0x04000000);
    expect(monitored.stats!.displacedAccessesServed).toBeGreaterThan(0);
  }, 300_000);
});
