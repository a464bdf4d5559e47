import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

// OCW2 (R SL EOI): 001 non-specific EOI, 011 specific EOI (L2-L0).
describe("end of interrupt", () => {
  it("a non-specific EOI resets the highest-priority IS bit", () => {
    const b = new Board().initLinux();
    b.pulse(5);
    b.take();
    b.pulse(2 + 1);
    b.take();
    expect(b.readIsr(0x20)).toBe(0x28);
    b.out(0x20, 0x20);
    expect(b.readIsr(0x20)).toBe(0x20);
    b.out(0x20, 0x20);
    expect(b.readIsr(0x20)).toBe(0);
    b.out(0x20, 0x20); // nothing in service: no effect
    expect(b.readIsr(0x20)).toBe(0);
  });

  it("a specific EOI resets the named IS bit, even a lower-priority one", () => {
    const b = new Board().initLinux();
    b.pulse(6);
    b.take();
    b.pulse(1);
    b.take();
    b.out(0x20, 0x66); // specific EOI, level 6
    expect(b.readIsr(0x20)).toBe(0x02);
    b.out(0x20, 0x61);
    expect(b.readIsr(0x20)).toBe(0);
  });

  it("a slave interrupt needs an EOI on both chips", () => {
    const b = new Board().initLinux();
    b.pulse(10);
    expect(b.take()).toBe(0x2a);
    expect(b.readIsr(0xa0)).toBe(0x04);
    expect(b.readIsr(0x20)).toBe(0x04);
    b.pulse(11);
    b.out(0xa0, 0x20);
    expect(b.intr).toBe(false); // the master still has IR2 in service
    b.out(0x20, 0x20);
    expect(b.take()).toBe(0x2b);
  });

  it("the no-operation command (010) changes nothing", () => {
    const b = new Board().initLinux();
    b.pulse(3);
    b.take();
    b.out(0x20, 0x40);
    expect(b.readIsr(0x20)).toBe(0x08);
  });
});
