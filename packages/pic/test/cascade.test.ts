import { describe, expect, it } from "vitest";
import { Board } from "./helpers.js";

// The slave's INT drives the master's IR2; on INTA the master names the slave on CAS0-2 and
// the slave supplies the vector.
describe("cascade", () => {
  it("a slave interrupt sets IS bits on both chips and takes the slave's vector", () => {
    const b = new Board().initLinux();
    b.pulse(12);
    expect(b.take()).toBe(0x2c);
    expect(b.readIsr(0x20)).toBe(0x04);
    expect(b.readIsr(0xa0)).toBe(0x10);
  });

  it("fully nested: the master's IS bit 2 blocks even higher slave requests until its EOI", () => {
    const b = new Board().initLinux();
    b.pulse(12);
    b.take();
    b.pulse(8);
    expect(b.intr).toBe(false);
    b.pulse(1);
    expect(b.take()).toBe(0x21);
    b.eoi(1);
    b.eoi(12);
    expect(b.take()).toBe(0x28);
  });

  it("special fully nested mode (ICW4 SFNM) lets higher slave requests through", () => {
    const b = new Board();
    for (const [port, value] of [
      [0x20, 0x11],
      [0x21, 0x20],
      [0x21, 0x04],
      [0x21, 0x11], // ICW4: SFNM, 8086
      [0xa0, 0x11],
      [0xa1, 0x28],
      [0xa1, 0x02],
      [0xa1, 0x01],
    ]) {
      b.out(port, value);
    }
    b.pulse(12);
    expect(b.take()).toBe(0x2c);
    b.pulse(13); // lower than IRQ 12: the slave itself holds it back
    expect(b.intr).toBe(false);
    b.pulse(8);
    expect(b.take()).toBe(0x28);
    expect(b.readIsr(0xa0)).toBe(0x11);
    b.pulse(5); // master levels below IR2 stay blocked
    expect(b.intr).toBe(false);
    b.out(0xa0, 0x20); // IRQ 8 done
    b.out(0xa0, 0x20); // IRQ 12 done: the slave has only IRQ 13 left, a new INT edge
    expect(b.take()).toBe(0x2d);
  });

  it("IRQ 2 on the bus is IRQ 9", () => {
    const b = new Board().initLinux();
    expect(b.pic.irq(2)).toBe(b.pic.irq(9));
    b.pic.irq(2).set(true);
    expect(b.take()).toBe(0x29);
  });

  it("with no slave on IR2 in the master's ICW3, the master supplies the IR2 vector", () => {
    const b = new Board();
    b.out(0x20, 0x11);
    b.out(0x21, 0x20);
    b.out(0x21, 0x00); // ICW3: no slaves
    b.out(0x21, 0x01);
    b.raise(12);
    expect(b.take()).toBe(0x22);
  });
});
