import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

// OCW3 ESMM/SMM (0x68 sets, 0x48 resets): a level masked in the IMR does not inhibit other
// levels, lower ones included, even while it is in service.
describe("special mask mode", () => {
  it("lets lower levels interrupt a handler that masked its own level", () => {
    const b = new Board().initLinux();
    b.pulse(3);
    expect(b.take()).toBe(0x23);
    b.pulse(5);
    expect(b.intr).toBe(false); // fully nested: IR3 in service blocks IR5
    b.out(0x21, 0x08); // mask IR3
    expect(b.intr).toBe(false); // masking alone is not enough
    b.out(0x20, 0x68); // special mask mode on
    expect(b.take()).toBe(0x25);
    expect(b.readIsr(0x20)).toBe(0x28);
  });

  it("a non-specific EOI does not reset a masked IS bit in special mask mode", () => {
    const b = new Board().initLinux();
    b.pulse(3);
    b.take();
    b.out(0x21, 0x08);
    b.out(0x20, 0x68);
    b.pulse(5);
    b.take();
    b.out(0x20, 0x20);
    expect(b.readIsr(0x20)).toBe(0x08); // IR5 reset, IR3 (masked) kept
    b.out(0x20, 0x20);
    expect(b.readIsr(0x20)).toBe(0x08);
    b.out(0x20, 0x63); // a specific EOI does reset it
    expect(b.readIsr(0x20)).toBe(0);
  });

  it("unmasked levels in service still block lower ones", () => {
    const b = new Board().initLinux();
    b.out(0x20, 0x68);
    b.pulse(1);
    b.take();
    b.pulse(6);
    expect(b.intr).toBe(false);
    b.out(0x21, 0x02); // mask IR1: IR6 may now interrupt
    expect(b.take()).toBe(0x26);
  });

  it("resetting special mask mode restores fully nested blocking", () => {
    const b = new Board().initLinux();
    b.pulse(3);
    b.take();
    b.out(0x21, 0x08);
    b.out(0x20, 0x68);
    b.out(0x20, 0x48);
    b.pulse(5);
    expect(b.intr).toBe(false);
    b.out(0x20, 0x08); // OCW3 without ESMM leaves SMM as it is (off)
    expect(b.intr).toBe(false);
  });
});
