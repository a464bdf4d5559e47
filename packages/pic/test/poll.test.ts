import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

// OCW3 P (0x0C): the next read is an interrupt acknowledge; it returns I (bit 7) and the
// level W2-W0 of the highest-priority request, and sets its IS bit.
describe("poll mode", () => {
  it("a poll read acknowledges the highest request", () => {
    const b = new Board().initLinux(); // polling software runs with IF = 0; INTR is ignored
    b.pulse(5);
    b.pulse(3);
    b.out(0x20, 0x0c);
    expect(b.in(0x20)).toBe(0x83);
    expect(b.readIsr(0x20)).toBe(0x08);
    b.out(0x20, 0x20);
    b.out(0x20, 0x0c);
    expect(b.in(0x21)).toBe(0x85); // a read of either port
    b.out(0x20, 0x20);
    expect(b.intr).toBe(false);
  });

  it("reports no request with bit 7 clear, and is one-shot", () => {
    const b = new Board().initLinux();
    b.out(0x20, 0x0c);
    expect(b.in(0x20)).toBe(0);
    b.pulse(4);
    expect(b.in(0x20)).toBe(0x10); // back to reading the IRR
  });

  it("overrides a read-register command in the same OCW3", () => {
    const b = new Board().initLinux();
    b.pulse(6);
    b.out(0x20, 0x0f); // P, RR, RIS
    expect(b.in(0x20)).toBe(0x86);
    expect(b.in(0x20)).toBe(0x40); // then the ISR, as RR/RIS selected
  });

  it("the master reports the cascade level; the slave is polled next", () => {
    const b = new Board().initLinux();
    b.pulse(11);
    b.out(0x20, 0x0c);
    expect(b.in(0x20)).toBe(0x82);
    b.out(0xa0, 0x0c);
    expect(b.in(0xa0)).toBe(0x83);
    expect(b.readIsr(0x20)).toBe(0x04);
    expect(b.readIsr(0xa0)).toBe(0x08);
  });
});
