import { describe, expect, it } from "vitest";
import { createMachine } from "../src/index.js";
import { multibootElf } from "./elf.js";

const MiB = 1024 * 1024;

function boot(code: number[], memory = 8 * MiB) {
  let serial = "";
  const machine = createMachine({
    memory,
    onSerialOutput: (b) => {
      serial += String.fromCharCode(b);
    },
  });
  machine.boot({ image: multibootElf(Uint8Array.from(code)), path: "k" });
  return { machine, serial: () => serial };
}

describe("the board's run loop", () => {
  it("enters with the Multiboot machine state", () => {
    const { machine } = boot([0xf4]);
    const cpu = machine.cpu;
    expect(cpu.getReg(0)).toBe(0x2badb002);
    expect(cpu.getReg(3)).toBe(0x9500);
    expect(cpu.eip).toBe(0x100010);
    expect(cpu.getCr(0) & 0x80000001).toBe(1);
    expect(cpu.eflags & 0x200).toBe(0);
    expect(cpu.getSegment(1)).toEqual({ selector: 8, base: 0, limit: 0xffffffff, access: 0xc09b });
    expect(cpu.getSegment(2).selector).toBe(0x10);
  });

  it("ends a HLT with interrupts disabled as halted", () => {
    expect(boot([0xfa, 0xf4]).machine.run()).toEqual({ kind: "halted" });
  });

  it("lets virtual time jump to the next timer while the CPU is halted", () => {
    // PIT counter 0, mode 0, count 0xFFFF; IRQ 0 masked at the PIC; sti; hlt
    const { machine } = boot([
      0xb0, 0x30, 0xe6, 0x43, 0xb0, 0xff, 0xe6, 0x40, 0xe6, 0x40, 0xe6, 0x21, 0xfb, 0xf4, 0xeb, 0xfd,
    ]);
    const exit = machine.run({ maxHaltedTicks: machine.clock.frequency });
    expect(["idle", "waiting"]).toContain(exit.kind);
    // 65535 PIT clocks at 1.193182 MHz are 54.9 ms, 5.49 million ticks of the 100 MHz clock
    expect(machine.clock.now).toBeGreaterThan(5_400_000);
    expect(machine.cpu.instructionCount).toBeLessThan(20);
  });

  it("ends a HLT with interrupts enabled and nothing armed as idle", () => {
    // mov al,0xff; out 0x21,al; out 0xa1,al (every IRQ masked); sti; hlt
    const { machine } = boot([0xb0, 0xff, 0xe6, 0x21, 0xe6, 0xa1, 0xfb, 0xf4]);
    expect(machine.run({ maxHaltedTicks: 10 * machine.clock.frequency }).kind).toMatch(/^(idle|waiting)$/);
  });

  it("stops at the instruction limit", () => {
    const { machine } = boot([0xeb, 0xfe]); // jmp $
    expect(machine.run({ maxInstructions: 5000 })).toEqual({ kind: "instruction-limit" });
    expect(machine.cpu.instructionCount).toBe(5000);
    expect(machine.stats.instructions).toBe(5000);
  });

  it("runs a guest with IF = 0 on the CPU's fast path while the BIOS's PIT keeps IRQ 0 pending", () => {
    // cli; mov ecx, 8_000_000; l: dec ecx; jnz l; hlt: 16 million instructions, in which the
    // 18.2 Hz PIT (one tick every 5.49 million instructions of the 100 MHz clock) raises IRQ 0.
    const n = 8_000_000;
    const { machine } = boot([0xfa, 0xb9, n & 0xff, (n >> 8) & 0xff, n >>> 16, 0, 0x49, 0x75, 0xfd, 0xf4]);
    expect(machine.run()).toEqual({ kind: "halted" });
    expect(machine.cpu.instructionCount).toBe(2 * n + 3);
    expect(machine.pic.pending).toBe(true);
    // A slow-path check at each of the run loop's slices and INTR's rise, not one per
    // instruction (issue 13: INTR held every instruction on the slow path, 50x slower).
    expect(machine.cpu.eventChecks).toBeLessThan(200);
  });

  it("under --vmm too: the monitor's kick waits for the guest's virtual IF off the slow path", () => {
    const n = 8_000_000;
    const machine = createMachine({ memory: 8 * MiB, vmm: { seed: 1 } });
    machine.boot({
      image: multibootElf(
        Uint8Array.from([0xfa, 0xb9, n & 0xff, (n >> 8) & 0xff, n >>> 16, 0, 0x49, 0x75, 0xfd, 0xf4]),
      ),
      path: "k",
    });
    expect(machine.run()).toEqual({ kind: "halted" });
    expect(machine.pic.pending).toBe(true);
    const cpu = machine.monitorMode?.machine;
    expect(cpu?.instructionCount).toBeGreaterThan(2 * n);
    // The kick (machine INTR) is high from IRQ 0's first rise; the guest's virtual IF is 0.
    expect(cpu?.eventChecks).toBeLessThan(1000);
  });

  it("ends on a reset through port 0x92", () => {
    const { machine } = boot([0xb0, 0x03, 0xe6, 0x92, 0xeb, 0xfe]); // mov al,3; out 0x92,al; jmp $
    expect(machine.run({ maxInstructions: 1000 })).toEqual({ kind: "reset" });
  });

  it("ends on isa-debug-exit with QEMU's status and counts software interrupts", () => {
    // mov dx,0x3f8; mov al,'A'; out dx,al; mov al,0x21; out 0xf4,al
    const { machine, serial } = boot([0x66, 0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xb0, 0x21, 0xe6, 0xf4]);
    expect(machine.run()).toEqual({ kind: "debug-exit", code: 0x43 });
    expect(serial()).toBe("A");
  });

  it("refuses a memory size the board cannot have", () => {
    expect(() => createMachine({ memory: MiB })).toThrow(/2 MiB/);
  });
});
