import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type RunResult, runBare, runMonitored } from "./board.js";

// The scenario kernels live with the other test kernels (tooling/guests), built by NASM there
// and committed. Each runs bare and under the monitor; the guest must not see a difference.
const kernel = (name: string) =>
  new Uint8Array(readFileSync(join(import.meta.dirname, "../../../tooling/guests/build", `${name}.elf`)));

function same(bare: RunResult, monitored: RunResult): void {
  expect(bare.end).toBe("exit");
  expect(monitored.message ?? null).toBeNull();
  expect({ output: monitored.output, exit: monitored.exitCode, end: monitored.end }).toEqual({
    output: bare.output,
    exit: bare.exitCode,
    end: bare.end,
  });
}

describe("scenario kernels under the monitor", () => {
  it("(a) the guest maps pages over the stub: it moves to an unused region (claims 1, 5, 9)", () => {
    const image = kernel("vmm_map_over");
    const monitored = runMonitored(image);
    same(runBare(image), monitored);
    const moves = monitored.stats!.relocations;
    expect(moves.length).toBeGreaterThanOrEqual(1);
    expect(moves[0].reason).toBe("conflict-unused");
    expect(moves[0].from).toBe(0xffffa000);
    expect(moves[0].to < 0xff800000 || moves[0].to >= 0x100000000).toBe(true);
    expect(monitored.stats!.stubBase).toBe(moves.at(-1)!.to);
  }, 120_000);

  it("(b) paging turned on over the stub, then GDT and IDT moved where it was (claims 1, 5, 9)", () => {
    const image = kernel("vmm_tables_over");
    const monitored = runMonitored(image);
    same(runBare(image), monitored);
    const moves = monitored.stats!.relocations;
    expect(moves.map((m) => m.reason)).toEqual(["conflict-unused"]);
    expect(moves[0].to >>> 22).not.toBe(0x3ff);
  }, 120_000);

  it("(c) the guest maps all 4 GiB: random region, displaced content served from the core (claims 10, 11)", () => {
    const image = kernel("vmm_fill_all");
    const monitored = runMonitored(image, { seed: 1 });
    same(runBare(image), monitored);
    const moves = monitored.stats!.relocations;
    expect(moves[0].reason).toBe("conflict-random");
    expect(moves[0].displaced.length).toBe(5);
    // The kernel writes and reads every page of slots 16-1023: the displaced ones through the core.
    if (moves[0].to >= 0x04000000) expect(monitored.stats!.displacedAccessesServed).toBeGreaterThan(0);
  }, 300_000);
});
