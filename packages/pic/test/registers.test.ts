import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

// OCW3 RR/RIS: 0x0A selects the IRR, 0x0B the ISR for reads of the even port; the choice
// stays until changed. The odd port always reads the IMR.
describe("IRR, ISR and IMR reads", () => {
  it("reads the IRR by default and the ISR after OCW3 0x0B, until told otherwise", () => {
    const b = new Board().initLinux(0x80);
    b.pulse(7); // masked: stays in the IRR
    b.pulse(2 + 2);
    expect(b.in(0x20)).toBe(0x90);
    b.take();
    expect(b.in(0x20)).toBe(0x80);
    b.out(0x20, 0x0b);
    expect(b.in(0x20)).toBe(0x10);
    expect(b.in(0x20)).toBe(0x10);
    b.out(0x20, 0x08); // OCW3 with RR = 0: no change of selection
    expect(b.in(0x20)).toBe(0x10);
    expect(b.in(0x21)).toBe(0x80);
    b.out(0x20, 0x0a);
    expect(b.in(0x20)).toBe(0x80);
  });

  it("the slave's registers show IRQs 8-15 and the master's show the cascade", () => {
    const b = new Board().initLinux(0x00, 0x02);
    b.pulse(9); // masked on the slave
    b.pulse(14);
    expect(b.readIrr(0xa0)).toBe(0x42);
    expect(b.readIrr(0x20)).toBe(0x04);
    b.take();
    expect(b.readIsr(0xa0)).toBe(0x40);
    expect(b.readIrr(0xa0)).toBe(0x02);
    expect(b.in(0xa1)).toBe(0x02);
  });

  it("the IMR is the last OCW1", () => {
    const b = new Board().initLinux();
    for (const mask of [0x00, 0xff, 0xa5, 0x5a]) {
      b.out(0x21, mask);
      b.out(0xa1, mask ^ 0xff);
      expect(b.in(0x21)).toBe(mask);
      expect(b.in(0xa1)).toBe(mask ^ 0xff);
    }
  });
});
