/**
 * The acceptance comparison: every test kernel of tooling/guests runs on pagurus and must give
 * QEMU's serial output and exit status byte for byte. QEMU's results are the recorded files in
 * tooling/guests/expected (tooling/guests/test/qemu.test.ts checks them against a live QEMU when
 * one is installed), so this runs everywhere. A failure here is a real difference from QEMU.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadKernels, readExpected } from "../../../tooling/guests/src/manifest.js";
import { createMachine, type MachineExit } from "../src/index.js";

const MiB = 1024 * 1024;

/** The process exit status QEMU would show for the same ending, or a description for the others. */
function status(exit: MachineExit): number | string {
  if (exit.kind === "debug-exit") return exit.code & 0xff;
  if (exit.kind === "reset") return 0;
  return `${exit.kind}${"report" in exit ? `: ${exit.report}` : ""}`;
}

// Kernels with reference "sdm" are compared with hand-written results where QEMU is known wrong.
describe("test kernels on pagurus match QEMU", () => {
  for (const kernel of loadKernels().filter((k) => k.reference !== "none")) {
    it(kernel.name, () => {
      const expected = readExpected(kernel.name);
      expect(expected, `no recorded QEMU result: run tooling/guests/record.sh`).not.toBeNull();
      let output = "";
      let sent = kernel.input === "";
      const machine = createMachine({
        memory: 128 * MiB, // as the reference command's -m 128
        onSerialOutput: (byte) => {
          output += String.fromCharCode(byte);
          if (!sent && output.includes(kernel.inputAfter)) {
            sent = true;
            machine.sendSerial(kernel.input);
          }
        },
      });
      machine.boot({
        image: readFileSync(kernel.image),
        path: kernel.image,
        append: kernel.append,
        modules: kernel.modules.map((spec) => ({
          string: spec,
          data: readFileSync(spec.split(" ")[0]),
        })),
      });
      // Bounded: a guest stuck in HLT ends as "waiting" after 60 s of virtual time.
      const exit = machine.run({
        maxInstructions: 200_000_000,
        maxHaltedTicks: 60 * machine.clock.frequency,
      });
      expect(output).toBe(expected?.output);
      expect(status(exit)).toBe(expected?.exitCode);
    });
  }

  it("triple_fault ends in shutdown with a register dump (QEMU -no-reboot just exits 0)", () => {
    const kernel = loadKernels().find((k) => k.name === "triple_fault");
    const machine = createMachine({ memory: 128 * MiB });
    machine.boot({ image: readFileSync(kernel?.image ?? ""), path: "triple_fault.elf" });
    const exit = machine.run({ maxInstructions: 1_000_000 });
    expect(exit.kind).toBe("shutdown");
    expect(machine.registerDump()).toMatch(/EIP=[0-9a-f]{8}/);
  });
});
