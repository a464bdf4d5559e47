import type { AccessSize, InterruptController, IoPortHandler, IrqLine, Snapshottable } from "@pagurus/spec";
import { I8259, type I8259State } from "./i8259.js";

/** What {@link DualPic.save} returns. */
export interface DualPicState {
  master: I8259State;
  slave: I8259State;
}

/** The I/O ports of the PC/AT pair and the PIIX ELCR. */
export const PicPort = {
  MasterCommand: 0x20,
  MasterData: 0x21,
  SlaveCommand: 0xa0,
  SlaveData: 0xa1,
  MasterElcr: 0x4d0,
  SlaveElcr: 0x4d1,
} as const;

/** The slave's INT output is wired to this master input (and the master's ICW3 bit for it). */
const CASCADE_IR = 2;

/**
 * The PC/AT interrupt controller: two 8259As, the slave's INT on the master's IR2, plus the
 * Edge/Level Control Registers of the PIIX (ports 0x4D0/0x4D1).
 *
 * - Devices drive `irq(n)` (0-15); the controller drives `output` (the CPU's INTR pin) every
 *   time whether it requests an interrupt changes.
 * - The CPU calls {@link acknowledge} for the INTA cycle and gets the vector.
 * - Software programs it through {@link read}/{@link write} on the absolute ports of
 *   {@link PicPort}, which the board maps to this handler.
 */
export class DualPic implements InterruptController, IoPortHandler, Snapshottable<DualPicState> {
  /** The ports to map to this handler. */
  static readonly ports: readonly number[] = Object.values(PicPort);

  private readonly master = new I8259(true, 0xf8);
  private readonly slave = new I8259(false, 0xde);
  private readonly lines: IrqLine[] = [];
  private outputLevel = false;

  constructor(private readonly output: IrqLine) {
    for (let n = 0; n < 16; n++) {
      const chip = n < 8 ? this.master : this.slave;
      const ir = n & 7;
      this.lines.push({
        set: (level: boolean) => {
          chip.setLine(ir, level);
          this.update();
        },
      });
    }
    // On the AT the ISA bus's IRQ2 pin is routed to the slave's IR1 (IRQ 9): the master's
    // IR2 belongs to the cascade.
    this.lines[CASCADE_IR] = this.lines[9];
  }

  /** The input line of IRQ `n` (0-15); IRQ 2 is the same line as IRQ 9. */
  irq(n: number): IrqLine {
    const line = this.lines[n];
    if (!Number.isInteger(n) || line === undefined) throw new RangeError(`IRQ ${n} is not 0-15`);
    return line;
  }

  get pending(): boolean {
    return this.outputLevel;
  }

  acknowledge(): number {
    const master = this.master;
    const slave = this.slave;
    const ir = master.requested();
    if (ir < 0) {
      // Nothing requests any more (the request went away, or was masked, after INTR rose):
      // the 8259A answers with IR7's vector and sets no IS bit, the "spurious IRQ 7".
      return (master.vectorBase | 7) & 0xff;
    }
    let vector: number;
    if (ir === CASCADE_IR && this.cascaded()) {
      // The master puts the slave's ID on CAS0-2 and the slave supplies the vector. A slave
      // with nothing left to request gives its IR7 vector ("spurious IRQ 15"); the master
      // has acknowledged IR2 all the same, so its IS bit 2 is set and needs an EOI.
      const slaveIr = slave.requested();
      if (slaveIr >= 0) slave.acknowledge(slaveIr);
      vector = slave.vectorBase | (slaveIr >= 0 ? slaveIr : 7);
      master.acknowledge(ir);
      // INTA takes the slave's INT down; if the slave still has a request that outranks its
      // in-service levels, INT rises again, a new edge on the master's IR2.
      master.setLine(CASCADE_IR, false);
    } else {
      vector = master.vectorBase | ir;
      master.acknowledge(ir);
    }
    this.update();
    return vector & 0xff;
  }

  read(port: number, size: AccessSize): number {
    let value = 0;
    for (let i = 0; i < size; i++) value |= this.read8(port + i) << (8 * i);
    return value >>> 0;
  }

  write(port: number, size: AccessSize, value: number): void {
    for (let i = 0; i < size; i++) this.write8(port + i, (value >>> (8 * i)) & 0xff);
  }

  save(): DualPicState {
    return { master: this.master.save(), slave: this.slave.save() };
  }

  restore(state: DualPicState): void {
    this.master.restore(state.master);
    this.slave.restore(state.slave);
    this.update();
  }

  private read8(port: number): number {
    let value: number;
    switch (port) {
      case PicPort.MasterCommand:
      case PicPort.MasterData:
        value = this.master.read(port === PicPort.MasterData);
        break;
      case PicPort.SlaveCommand:
      case PicPort.SlaveData:
        value = this.slave.read(port === PicPort.SlaveData);
        break;
      case PicPort.MasterElcr:
        return this.master.elcr;
      case PicPort.SlaveElcr:
        return this.slave.elcr;
      default:
        return 0xff;
    }
    // A read may have been a poll, which acknowledges.
    this.update();
    return value;
  }

  private write8(port: number, value: number): void {
    switch (port) {
      case PicPort.MasterCommand:
        this.master.writeCommand(value);
        break;
      case PicPort.MasterData:
        this.master.writeData(value);
        break;
      case PicPort.SlaveCommand:
        this.slave.writeCommand(value);
        break;
      case PicPort.SlaveData:
        this.slave.writeData(value);
        break;
      case PicPort.MasterElcr:
        this.master.writeElcr(value);
        break;
      case PicPort.SlaveElcr:
        this.slave.writeElcr(value);
        break;
      default:
        return;
    }
    this.update();
  }

  /** Whether the master's IR2 is a cascade input: cascade mode (ICW1 SNGL = 0) and ICW3 says so. */
  private cascaded(): boolean {
    return !this.master.singleMode && (this.master.icw3 & (1 << CASCADE_IR)) !== 0;
  }

  /** Propagates the slave's INT to the master's IR2 and the master's INT to the CPU. */
  private update(): void {
    this.master.setLine(CASCADE_IR, this.slave.requested() >= 0);
    const level = this.master.requested() >= 0;
    if (level !== this.outputLevel) {
      this.outputLevel = level;
      this.output.set(level);
    }
  }
}
