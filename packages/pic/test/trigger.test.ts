import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

describe("edge triggering", () => {
  it("a line that stays high is one edge: one interrupt", () => {
    const b = new Board().initLinux();
    b.raise(4);
    expect(b.take()).toBe(0x24);
    b.eoi(4);
    expect(b.intr).toBe(false);
    b.raise(4); // the same level again is not an edge
    expect(b.intr).toBe(false);
    b.lower(4);
    b.raise(4);
    expect(b.take()).toBe(0x24);
  });

  it("a pulse is latched in the IRR until INTA", () => {
    const b = new Board().initLinux();
    b.pulse(6);
    expect(b.readIrr(0x20)).toBe(0x40);
    expect(b.take()).toBe(0x26);
    expect(b.readIrr(0x20)).toBe(0);
  });
});

// ELCR (PIIX, ports 0x4D0/0x4D1): 1 = level-triggered. ICW1 LTIM makes a whole chip level.
describe("level triggering", () => {
  it("a level request held high interrupts again after each EOI", () => {
    const b = new Board().initLinux();
    b.out(0x4d1, 0x04); // IRQ 10
    b.raise(10);
    expect(b.take()).toBe(0x2a);
    expect(b.readIrr(0xa0)).toBe(0x04); // INTA does not consume a level request
    b.eoi(10);
    expect(b.take()).toBe(0x2a);
    b.lower(10); // the device is serviced
    b.eoi(10);
    expect(b.intr).toBe(false);
    expect(b.readIrr(0xa0)).toBe(0);
  });

  it("ICW1 LTIM makes every input of that chip level-triggered", () => {
    const b = new Board();
    b.out(0x20, 0x19);
    b.out(0x21, 0x20);
    b.out(0x21, 0x04);
    b.out(0x21, 0x01);
    b.raise(3);
    expect(b.take()).toBe(0x23);
    b.eoi(3);
    expect(b.take()).toBe(0x23);
    b.lower(3);
    b.eoi(3);
    expect(b.intr).toBe(false);
  });

  it("a line already high requests as soon as its ELCR bit makes it level-triggered", () => {
    const b = new Board().initLinux();
    b.raise(11);
    b.take();
    b.eoi(11);
    expect(b.intr).toBe(false);
    b.out(0x4d1, 0x08);
    expect(b.take()).toBe(0x2b);
  });

  it("IRQ 0, 1, 2, 8 and 13 are always edge-triggered: their ELCR bits read 0", () => {
    const b = new Board();
    b.out(0x4d0, 0xff);
    b.out(0x4d1, 0xff);
    expect(b.in(0x4d0)).toBe(0xf8);
    expect(b.in(0x4d1)).toBe(0xde);
  });
});
