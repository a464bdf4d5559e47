import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

// 8259A datasheet: "If the IR input goes low before [the first INTA] a DEFAULT IR7 will occur
// when the CPU acknowledges the interrupt." The IR7 vector comes with no IS bit set, which is
// how a handler tells a spurious IRQ 7 from a real one.
describe("spurious interrupts", () => {
  it("spurious IRQ 7: a level-triggered request that goes away before INTA", () => {
    const b = new Board().initLinux();
    b.out(0x4d0, 0x20); // IRQ 5 level-triggered
    b.raise(5);
    expect(b.intr).toBe(true);
    b.lower(5); // gone before the CPU got to INTA
    expect(b.intr).toBe(false);
    expect(b.pic.acknowledge()).toBe(0x27);
    expect(b.readIsr(0x20)).toBe(0);
    // A real IRQ 7 sets IS bit 7.
    b.pulse(7);
    expect(b.take()).toBe(0x27);
    expect(b.readIsr(0x20)).toBe(0x80);
  });

  it("spurious IRQ 7: the request is masked after INTR rose", () => {
    const b = new Board().initLinux();
    b.pulse(3);
    b.out(0x21, 0x08);
    expect(b.pic.acknowledge()).toBe(0x27);
    expect(b.readIsr(0x20)).toBe(0);
    expect(b.readIrr(0x20)).toBe(0x08); // still pending behind the mask
  });

  it("spurious IRQ 15: the slave's level request goes away; the master's IS bit 2 is still set", () => {
    const b = new Board().initLinux();
    b.out(0x4d1, 0x04); // IRQ 10 level-triggered
    b.raise(10);
    b.lower(10);
    // The master latched the edge of the slave's INT on IR2, so it still interrupts.
    expect(b.take()).toBe(0x2f);
    expect(b.readIsr(0xa0)).toBe(0);
    expect(b.readIsr(0x20)).toBe(0x04);
    b.out(0x20, 0x20); // Linux's handler EOIs the master only
    expect(b.readIsr(0x20)).toBe(0);
    expect(b.intr).toBe(false);
  });

  it("spurious IRQ 15: the slave masks its request after the master latched it", () => {
    const b = new Board().initLinux();
    b.pulse(12);
    b.out(0xa1, 0x10);
    expect(b.take()).toBe(0x2f);
    expect(b.readIsr(0xa0)).toBe(0);
    expect(b.readIsr(0x20)).toBe(0x04);
  });
});
