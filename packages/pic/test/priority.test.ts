import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

// 8259A datasheet, "Fully Nested Mode": IR0 highest, IR7 lowest; the slave's eight levels
// sit at the master's IR2, between IRQ 1 and IRQ 3.
describe("fully nested priority", () => {
  it("simultaneous requests are served highest first", () => {
    const b = new Board().initLinux();
    for (const irq of [7, 3, 12, 1, 9, 5]) b.pulse(irq);
    const order: number[] = [];
    while (b.intr) {
      const vector = b.take();
      order.push(vector - 0x20);
      b.eoi(vector - 0x20);
    }
    expect(order).toEqual([1, 9, 12, 3, 5, 7]);
  });

  it("an in-service level blocks itself and lower levels until its EOI; higher ones nest", () => {
    const b = new Board().initLinux();
    b.pulse(4);
    expect(b.take()).toBe(0x24);
    b.pulse(6);
    b.pulse(4);
    expect(b.intr).toBe(false);
    b.pulse(1);
    expect(b.intr).toBe(true);
    expect(b.take()).toBe(0x21);
    expect(b.readIsr(0x20)).toBe(0x12);
    b.eoi(1);
    expect(b.intr).toBe(false);
    b.eoi(4);
    expect(b.take()).toBe(0x24);
    b.eoi(4);
    expect(b.take()).toBe(0x26);
  });

  it("a masked request waits in the IRR until unmasked", () => {
    const b = new Board().initLinux(0x08);
    b.pulse(3);
    expect(b.intr).toBe(false);
    expect(b.readIrr(0x20)).toBe(0x08);
    b.out(0x21, 0x00);
    expect(b.take()).toBe(0x23);
  });

  it("masking the cascade IR on the master hides every slave request", () => {
    const b = new Board().initLinux(0x04);
    b.pulse(14);
    expect(b.intr).toBe(false);
    b.out(0x21, 0x00);
    expect(b.take()).toBe(0x2e);
  });

  it("drives INTR only when its level changes", () => {
    const b = new Board().initLinux();
    b.pulse(5);
    b.pulse(6);
    expect(b.intrLog).toEqual([true]);
    b.take();
    expect(b.intrLog).toEqual([true, false]);
    b.eoi(5);
    expect(b.intrLog).toEqual([true, false, true]);
    expect(b.pic.pending).toBe(true);
  });
});
