import { DualPic } from "../src/index.js";

/**
 * A hand-written board around a {@link DualPic}: port I/O the way the CPU's IN/OUT reach it,
 * the INTR pin as a recorded wire, and INTA as the CPU performs it.
 */
export class Board {
  /** The level of the CPU's INTR pin as last driven by the PIC. */
  intr = false;
  /** Every level the PIC drove onto INTR, in order. */
  readonly intrLog: boolean[] = [];
  readonly pic = new DualPic({
    set: (level) => {
      this.intr = level;
      this.intrLog.push(level);
    },
  });

  out(port: number, value: number): void {
    this.pic.write(port, 1, value);
  }

  in(port: number): number {
    return this.pic.read(port, 1);
  }

  /** Linux's init_8259A(): vectors 0x20-0x2F, slave on IR2, 8086 mode, normal EOI. */
  initLinux(masterMask = 0x00, slaveMask = 0x00): this {
    this.out(0x21, 0xff); // mask everything while programming
    this.out(0xa1, 0xff);
    this.out(0x20, 0x11); // ICW1: edge, cascade, ICW4 needed
    this.out(0x21, 0x20); // ICW2: IR0 -> vector 0x20
    this.out(0x21, 0x04); // ICW3: a slave on IR2
    this.out(0x21, 0x01); // ICW4: 8086 mode
    this.out(0xa0, 0x11);
    this.out(0xa1, 0x28); // IR0 of the slave (IRQ 8) -> vector 0x28
    this.out(0xa1, 0x02); // ICW3: slave ID 2
    this.out(0xa1, 0x01);
    this.out(0x21, masterMask);
    this.out(0xa1, slaveMask);
    return this;
  }

  raise(irq: number): void {
    this.pic.irq(irq).set(true);
  }

  lower(irq: number): void {
    this.pic.irq(irq).set(false);
  }

  /** An edge-triggered device's pulse. */
  pulse(irq: number): void {
    this.raise(irq);
    this.lower(irq);
  }

  /** The CPU accepting the interrupt: INTR must be asserted; INTA returns the vector. */
  take(): number {
    if (!this.intr) throw new Error("INTR is not asserted");
    return this.pic.acknowledge();
  }

  /** Takes interrupts while INTR stays asserted, with no EOI in between. */
  takeAll(): number[] {
    const vectors: number[] = [];
    while (this.intr && vectors.length < 32) vectors.push(this.take());
    return vectors;
  }

  /** Non-specific EOI, to the slave first for IRQs 8-15, as a handler does. */
  eoi(irq: number): void {
    if (irq >= 8) this.out(0xa0, 0x20);
    this.out(0x20, 0x20);
  }

  /** OCW3 read-register commands. */
  readIrr(command: 0x20 | 0xa0): number {
    this.out(command, 0x0a);
    return this.in(command);
  }

  readIsr(command: 0x20 | 0xa0): number {
    this.out(command, 0x0b);
    const isr = this.in(command);
    this.out(command, 0x0a);
    return isr;
  }
}
