import assert from "node:assert/strict";
import { DualPic } from "@pagurus/pic";

// The CPU's INTR pin: the PIC drives it; here we only remember its level.
let intr = false;
const pic = new DualPic({
  set: (level) => {
    intr = level;
  },
});

// A hand-written I/O bus: OUT and IN go straight to the PIC's absolute ports.
const outb = (port: number, value: number) => pic.write(port, 1, value);
const inb = (port: number) => pic.read(port, 1);

// Program the pair the way Linux does: vectors 0x20-0x2F, slave on IR2, 8086 mode.
outb(0x20, 0x11); // master ICW1: edge, cascade, ICW4 follows
outb(0x21, 0x20); // ICW2: IRQ 0 -> vector 0x20
outb(0x21, 0x04); // ICW3: a slave on IR2
outb(0x21, 0x01); // ICW4: 8086 mode
outb(0xa0, 0x11); // the same for the slave
outb(0xa1, 0x28); // IRQ 8 -> vector 0x28
outb(0xa1, 0x02); // ICW3: slave ID 2
outb(0xa1, 0x01);
outb(0x21, 0x00); // OCW1: unmask everything
outb(0xa1, 0x00);

// Two devices raise IRQ 3 and IRQ 12: INTR goes high.
pic.irq(3).set(true);
pic.irq(12).set(true);
assert.equal(intr, true);

// A fake CPU: while INTR is high, run the INTA cycle, then the handler.
const served: number[] = [];
while (intr) {
  const vector = pic.acknowledge();
  served.push(vector);
  const irq = vector - 0x20;
  pic.irq(irq).set(false); // the handler services the device
  if (irq >= 8) outb(0xa0, 0x20); // non-specific EOI to the slave
  outb(0x20, 0x20); // and to the master
}
// IRQ 12 comes in on the master's IR2, so it outranks IRQ 3.
assert.deepEqual(served, [0x2c, 0x23]);

// OCW3 0x0B selects the In-Service Register for reads of port 0x20: nothing in service.
outb(0x20, 0x0b);
assert.equal(inb(0x20), 0);
