import { describe, expect, it } from "vitest";
import { DualPic } from "../src/index.js";
import { Board } from "./helpers.js";

describe("initialization (ICW1-ICW4)", () => {
  it("Linux's init sequence gives vectors 0x20-0x2F", () => {
    const b = new Board().initLinux();
    for (const irq of [0, 1, 3, 4, 5, 6, 7]) {
      b.pulse(irq);
      expect(b.take()).toBe(0x20 + irq);
      b.eoi(irq);
    }
    for (let irq = 8; irq < 16; irq++) {
      b.pulse(irq);
      expect(b.take()).toBe(0x20 + irq);
      b.eoi(irq);
    }
    expect(b.intr).toBe(false);
  });

  it("the masks written after initialization read back at the data ports", () => {
    const b = new Board().initLinux(0xfb, 0xff);
    expect(b.in(0x21)).toBe(0xfb);
    expect(b.in(0xa1)).toBe(0xff);
  });

  it("ICW1 clears the IMR, the ISR and pending edges, and restores IR7 as lowest priority", () => {
    const b = new Board().initLinux(0x0f);
    b.raise(5);
    b.raise(6);
    expect(b.take()).toBe(0x25);
    b.out(0x20, 0xc4); // set priority: IR4 lowest
    b.out(0x20, 0x11);
    expect(b.in(0x21)).toBe(0); // IMR cleared (reads as OCW1 once ICW2-4 are done)
    b.out(0x21, 0x20);
    b.out(0x21, 0x04);
    b.out(0x21, 0x01);
    expect(b.in(0x21)).toBe(0);
    expect(b.readIsr(0x20)).toBe(0);
    expect(b.readIrr(0x20)).toBe(0); // IR6's edge is forgotten
    expect(b.intr).toBe(false);
    // Lines still high must go low and high again before they request (edge sense reset).
    b.raise(5);
    expect(b.intr).toBe(false);
    b.lower(5);
    b.pulse(3);
    b.pulse(0);
    expect(b.takeAll()).toEqual([0x20]); // IR0 highest: priority is back to IR0..IR7
  });

  it("the ICW2 low bits are ignored in 8086 mode", () => {
    const b = new Board();
    b.out(0x20, 0x11);
    b.out(0x21, 0x47);
    b.out(0x21, 0x04);
    b.out(0x21, 0x01);
    b.pulse(1);
    expect(b.take()).toBe(0x41);
  });

  it("single mode (SNGL) skips ICW3, and IC4 = 0 skips ICW4", () => {
    const b = new Board();
    b.out(0x20, 0x13); // ICW1: single, IC4
    b.out(0x21, 0x08); // ICW2
    b.out(0x21, 0x03); // ICW4 (not ICW3): AEOI, 8086
    b.out(0x21, 0xfe); // OCW1
    expect(b.in(0x21)).toBe(0xfe);
    b.pulse(0);
    expect(b.take()).toBe(0x08);
    expect(b.readIsr(0x20)).toBe(0); // AEOI took effect, so the last write was ICW4

    const c = new Board();
    c.out(0x20, 0x10); // ICW1: cascade, no ICW4
    c.out(0x21, 0x50); // ICW2
    c.out(0x21, 0x04); // ICW3
    c.out(0x21, 0x33); // OCW1 already
    expect(c.in(0x21)).toBe(0x33);
  });

  it("in single mode the master answers IR2 itself", () => {
    const b = new Board();
    b.out(0x20, 0x13);
    b.out(0x21, 0x08);
    b.out(0x21, 0x01);
    b.raise(12); // drives the slave, whose INT is wired to IR2
    expect(b.take()).toBe(0x0a);
  });

  it("16-bit port accesses reach both bytes", () => {
    const b = new Board().initLinux();
    b.pic.write(0x20, 2, 0x5a_0b); // OCW3 "read ISR" to 0x20, then 0x5A to the IMR at 0x21
    expect(b.in(0x21)).toBe(0x5a);
    expect(b.pic.read(0x20, 2)).toBe(0x5a_00);
  });

  it("unclaimed ports read as all ones, and the port list covers what it decodes", () => {
    const b = new Board();
    expect(b.in(0x22)).toBe(0xff);
    expect([...DualPic.ports].sort()).toEqual([0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1].sort());
  });

  it("irq() rejects numbers outside 0-15", () => {
    const b = new Board();
    expect(() => b.pic.irq(16)).toThrow(RangeError);
    expect(() => b.pic.irq(-1)).toThrow(RangeError);
  });
});
