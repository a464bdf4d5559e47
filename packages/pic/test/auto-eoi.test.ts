import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

function aeoiBoard(): Board {
  const b = new Board();
  b.out(0x20, 0x11);
  b.out(0x21, 0x20);
  b.out(0x21, 0x04);
  b.out(0x21, 0x03); // ICW4: AEOI, 8086
  b.out(0xa0, 0x11);
  b.out(0xa1, 0x28);
  b.out(0xa1, 0x02);
  b.out(0xa1, 0x03);
  return b;
}

// ICW4 AEOI: the 8259A performs a non-specific EOI itself at the end of INTA.
describe("automatic EOI", () => {
  it("leaves no IS bit set, so the same level can interrupt again without an EOI", () => {
    const b = aeoiBoard();
    b.pulse(4);
    expect(b.take()).toBe(0x24);
    expect(b.readIsr(0x20)).toBe(0);
    b.pulse(6);
    b.pulse(4);
    expect(b.takeAll()).toEqual([0x24, 0x26]);
  });

  it("serves two slave requests back to back (the slave's INT makes a new edge after INTA)", () => {
    const b = aeoiBoard();
    b.pulse(12);
    b.pulse(9);
    expect(b.takeAll()).toEqual([0x29, 0x2c]);
    expect(b.readIsr(0x20)).toBe(0);
    expect(b.readIsr(0xa0)).toBe(0);
  });

  it("rotate in AEOI (OCW2 0x80) makes each served level the lowest; OCW2 0x00 stops it", () => {
    const b = aeoiBoard();
    b.out(0x20, 0x80);
    b.pulse(3);
    expect(b.take()).toBe(0x23); // IR3 now lowest
    b.pulse(3);
    b.pulse(5);
    expect(b.takeAll()).toEqual([0x25, 0x23]);
    // Now IR3 is lowest again. Stop rotating: serving IR4 must not move the priority.
    b.out(0x20, 0x00);
    b.pulse(4);
    expect(b.take()).toBe(0x24);
    b.pulse(3);
    b.pulse(4);
    expect(b.takeAll()).toEqual([0x24, 0x23]);
  });

  it("a master in AEOI with a normal slave: only the slave needs an EOI", () => {
    const b = new Board();
    for (const [port, value] of [
      [0x20, 0x11],
      [0x21, 0x20],
      [0x21, 0x04],
      [0x21, 0x03],
      [0xa0, 0x11],
      [0xa1, 0x28],
      [0xa1, 0x02],
      [0xa1, 0x01],
    ]) {
      b.out(port, value);
    }
    b.pulse(13);
    expect(b.take()).toBe(0x2d);
    expect(b.readIsr(0x20)).toBe(0);
    expect(b.readIsr(0xa0)).toBe(0x20);
  });
});
