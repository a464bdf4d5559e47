import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

// 8259A datasheet, "Automatic Rotation" and "Specific Rotation": the level just served, or
// the one named, becomes the lowest; the next one up becomes the highest.
describe("priority rotation", () => {
  it("rotate on non-specific EOI (OCW2 0xA0) serves equal-priority devices in turn", () => {
    const b = new Board().initLinux();
    b.pulse(3);
    b.pulse(5);
    expect(b.take()).toBe(0x23);
    b.out(0x20, 0xa0); // IR3 becomes lowest: order 4 5 6 7 0 1 2 3
    b.pulse(3);
    expect(b.take()).toBe(0x25);
    b.out(0x20, 0xa0); // IR5 lowest: order 6 7 0 1 2 3 4 5
    b.pulse(5);
    expect(b.take()).toBe(0x23);
    b.out(0x20, 0xa0);
    expect(b.take()).toBe(0x25);
  });

  it("rotate on specific EOI (OCW2 0xE0 | L) clears IS bit L and makes L the lowest", () => {
    const b = new Board().initLinux();
    b.pulse(6);
    expect(b.take()).toBe(0x26);
    b.out(0x20, 0xe6);
    expect(b.readIsr(0x20)).toBe(0);
    b.pulse(0);
    b.pulse(7);
    expect(b.take()).toBe(0x27); // IR7 is now the highest
  });

  it("set priority (OCW2 0xC0 | L) makes L the lowest without touching the ISR", () => {
    const b = new Board().initLinux();
    b.out(0x20, 0xc3); // order 4 5 6 7 0 1 2 3
    b.pulse(1);
    expect(b.take()).toBe(0x21);
    b.pulse(5); // outranks IR1 now
    expect(b.take()).toBe(0x25);
    expect(b.readIsr(0x20)).toBe(0x22);
    b.out(0x20, 0x20); // a non-specific EOI clears the highest in the rotated order: IR5
    expect(b.readIsr(0x20)).toBe(0x02);
    b.pulse(3);
    expect(b.intr).toBe(false); // IR3 ranks below IR1 in this order
    b.pulse(0);
    expect(b.take()).toBe(0x20); // IR0 ranks above it
  });

  it("the slave rotates on its own", () => {
    const b = new Board().initLinux();
    b.out(0xa0, 0xc0); // slave: IR0 (IRQ 8) lowest
    b.pulse(8);
    b.pulse(15);
    expect(b.take()).toBe(0x2f);
    b.eoi(15);
    expect(b.take()).toBe(0x28);
  });
});
