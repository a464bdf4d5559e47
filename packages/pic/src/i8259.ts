/** The state of one 8259A, as plain data (see {@link I8259.save}). */
export interface I8259State {
  /** Interrupt Request Register. */
  irr: number;
  /** In-Service Register. */
  isr: number;
  /** Interrupt Mask Register (OCW1). */
  imr: number;
  /** The levels of the IR0-IR7 input pins. */
  lines: number;
  /** The IR with the lowest priority (7 after ICW1; moved by rotation and OCW2 set priority). */
  lowestPriority: number;
  /** The last ICW1, ICW3 and ICW4 written (ICW4 reads as 0 when ICW1 had IC4 = 0). */
  icw1: number;
  icw3: number;
  icw4: number;
  /** ICW2 bits T7-T3: the vector of IR0. */
  vectorBase: number;
  /** The ICW the next write to the odd port is (2, 3 or 4), or 0 once initialized (then it is OCW1). */
  nextIcw: number;
  /** OCW3 RIS: reads of the even port return the ISR (true) or the IRR (false). */
  readIsr: boolean;
  /** OCW3 P: the next read is a poll. */
  poll: boolean;
  /** OCW3 SMM. */
  specialMask: boolean;
  /** OCW2 rotate in automatic EOI mode. */
  rotateInAeoi: boolean;
  /** Edge/Level Control Register: 1 = level triggered (when ICW1 LTIM is 0). */
  elcr: number;
}

// ICW1 bits (8259A datasheet, "Initialization Command Words").
const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1_LTIM = 0x08;
const ICW1_INIT = 0x10;
// ICW4 bits.
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;
// OCW3 bits.
const OCW3_SELECT = 0x08;
const OCW3_RIS = 0x01;
const OCW3_RR = 0x02;
const OCW3_P = 0x04;
const OCW3_SMM = 0x20;
const OCW3_ESMM = 0x40;

/**
 * One 8259A programmable interrupt controller (Intel 8259A datasheet, 8086 mode). Internal:
 * {@link DualPic} wires two of these the way a PC/AT does.
 */
export class I8259 {
  irr = 0;
  isr = 0;
  imr = 0;
  lines = 0;
  lowestPriority = 7;
  icw1 = 0;
  icw3: number;
  icw4 = 0;
  vectorBase = 0;
  nextIcw = 0;
  readIsr = false;
  poll = false;
  specialMask = false;
  rotateInAeoi = false;
  elcr = 0;

  constructor(
    /** The master: its IR2 may carry a slave (ICW3, special fully nested mode). */
    readonly isMaster: boolean,
    /** ELCR bits that exist (the PIIX forces IRQ 0, 1, 2, 8 and 13 to edge). */
    private readonly elcrMask: number,
  ) {
    // Before ICW1 the chip is in no defined state; start as a PC/AT is wired (slave on IR2).
    this.icw3 = isMaster ? 0x04 : 0x02;
  }

  /** Inputs sensed by level: all of them with ICW1 LTIM, else those set in the ELCR. */
  get levelTriggered(): number {
    return this.icw1 & ICW1_LTIM ? 0xff : this.elcr;
  }

  get singleMode(): boolean {
    return (this.icw1 & ICW1_SNGL) !== 0;
  }

  get autoEoi(): boolean {
    return (this.icw4 & ICW4_AEOI) !== 0;
  }

  /** Drives input IRn. `set` semantics: the same level twice is not an edge. */
  setLine(n: number, level: boolean): void {
    const bit = 1 << n;
    if (level === ((this.lines & bit) !== 0)) return;
    if (level) {
      this.lines |= bit;
      // A rising edge sets the IRR bit in edge mode; in level mode the bit follows the pin.
      this.irr |= bit;
    } else {
      this.lines &= ~bit;
      // Only a level-triggered request goes away with its pin. An edge-triggered one stays
      // latched until INTA (as QEMU and v86 do; the datasheet asks the device to hold IR
      // high until INTA, and models written for those emulators pulse their lines).
      if (this.levelTriggered & bit) this.irr &= ~bit;
    }
  }

  /** The IR this chip signals on INT, or -1: the highest-priority unmasked request that outranks the ISR. */
  requested(): number {
    const request = this.priority(this.irr & ~this.imr);
    if (request === 8) return -1;
    let inService = this.isr;
    // Special mask mode: a masked level does not inhibit others, whether in service or not
    // ("enables interrupts from all other levels (lower as well as higher) that are not masked").
    if (this.specialMask) inService &= ~this.imr;
    const current = this.priority(inService);
    const ir = (request + this.lowestPriority + 1) & 7;
    if (request < current) return ir;
    // Special fully nested mode: while a slave's IR is in service, that slave's further
    // (higher-priority) requests still reach the CPU; the slave itself ranks them.
    if (request === current && ir === 2 && this.isMaster && this.icw4 & ICW4_SFNM) return ir;
    return -1;
  }

  /** The INTA cycle for `ir`: sets the ISR bit (or not, in AEOI mode) and consumes an edge request. */
  acknowledge(ir: number): void {
    const bit = 1 << ir;
    if (this.autoEoi) {
      // AEOI performs a non-specific EOI at the end of INTA; with rotate in AEOI the level
      // just served becomes the lowest.
      if (this.rotateInAeoi) this.lowestPriority = ir;
    } else {
      this.isr |= bit;
    }
    if ((this.levelTriggered & bit) === 0) this.irr &= ~bit;
  }

  /** A write to the even port (A0 = 0): ICW1, OCW2 or OCW3. */
  writeCommand(value: number): void {
    if (value & ICW1_INIT) this.initialize(value);
    else if (value & OCW3_SELECT) this.ocw3(value);
    else this.ocw2(value);
  }

  /** A write to the odd port (A0 = 1): ICW2-ICW4 during initialization, else OCW1. */
  writeData(value: number): void {
    switch (this.nextIcw) {
      case 2:
        // 8086 mode: T7-T3 of the vector; the IR number fills bits 2-0.
        this.vectorBase = value & 0xf8;
        if (!this.singleMode) this.nextIcw = 3;
        else this.nextIcw = this.icw1 & ICW1_IC4 ? 4 : 0;
        return;
      case 3:
        this.icw3 = value;
        this.nextIcw = this.icw1 & ICW1_IC4 ? 4 : 0;
        return;
      case 4:
        this.icw4 = value;
        this.nextIcw = 0;
        return;
      default:
        this.imr = value;
    }
  }

  /** A read of the even (`a0` false) or odd port. */
  read(a0: boolean): number {
    if (this.poll) {
      // Poll command: this read is the interrupt acknowledge; the word is I (bit 7) and the
      // highest-priority request's level W2-W0. It overrides a read-register command.
      this.poll = false;
      const ir = this.requested();
      if (ir < 0) return 0;
      this.acknowledge(ir);
      return 0x80 | ir;
    }
    if (a0) return this.imr;
    return this.readIsr ? this.isr : this.irr;
  }

  writeElcr(value: number): void {
    this.elcr = value & this.elcrMask;
    this.resampleLevels();
  }

  save(): I8259State {
    return {
      irr: this.irr,
      isr: this.isr,
      imr: this.imr,
      lines: this.lines,
      lowestPriority: this.lowestPriority,
      icw1: this.icw1,
      icw3: this.icw3,
      icw4: this.icw4,
      vectorBase: this.vectorBase,
      nextIcw: this.nextIcw,
      readIsr: this.readIsr,
      poll: this.poll,
      specialMask: this.specialMask,
      rotateInAeoi: this.rotateInAeoi,
      elcr: this.elcr,
    };
  }

  restore(s: I8259State): void {
    this.irr = s.irr & 0xff;
    this.isr = s.isr & 0xff;
    this.imr = s.imr & 0xff;
    this.lines = s.lines & 0xff;
    this.lowestPriority = s.lowestPriority & 7;
    this.icw1 = s.icw1 & 0xff;
    this.icw3 = s.icw3 & 0xff;
    this.icw4 = s.icw4 & 0xff;
    this.vectorBase = s.vectorBase & 0xf8;
    this.nextIcw = s.nextIcw;
    this.readIsr = s.readIsr;
    this.poll = s.poll;
    this.specialMask = s.specialMask;
    this.rotateInAeoi = s.rotateInAeoi;
    this.elcr = s.elcr & this.elcrMask;
  }

  /**
   * ICW1 (datasheet, "Initialization Command Words"): the edge-sense circuit is reset (an IR
   * must go low to high again to request), the IMR is cleared, IR7 gets the lowest priority,
   * special mask mode is cleared and status read is set to the IRR; with IC4 = 0 every ICW4
   * function is zero.
   */
  private initialize(value: number): void {
    this.icw1 = value;
    this.imr = 0;
    this.isr = 0;
    this.irr = 0;
    this.lowestPriority = 7;
    this.readIsr = false;
    this.poll = false;
    this.specialMask = false;
    this.rotateInAeoi = false;
    if ((value & ICW1_IC4) === 0) this.icw4 = 0;
    this.nextIcw = 2;
    // A level-triggered request is its pin's level, so a pin held high requests again.
    this.resampleLevels();
  }

  /** OCW2: EOI, rotation and priority commands, selected by R, SL and EOI (bits 7-5). */
  private ocw2(value: number): void {
    const level = value & 7;
    switch (value >> 5) {
      case 0b000: // rotate in automatic EOI mode (clear)
        this.rotateInAeoi = false;
        return;
      case 0b100: // rotate in automatic EOI mode (set)
        this.rotateInAeoi = true;
        return;
      case 0b001: // non-specific EOI
      case 0b101: {
        // rotate on non-specific EOI
        const ir = this.highestInService();
        if (ir < 0) return;
        this.isr &= ~(1 << ir);
        if (value & 0x80) this.lowestPriority = ir;
        return;
      }
      case 0b011: // specific EOI
        this.isr &= ~(1 << level);
        return;
      case 0b111: // rotate on specific EOI
        this.isr &= ~(1 << level);
        this.lowestPriority = level;
        return;
      case 0b110: // set priority command: L2-L0 becomes the lowest
        this.lowestPriority = level;
        return;
      default: // 0b010: no operation
        return;
    }
  }

  private ocw3(value: number): void {
    if (value & OCW3_P) this.poll = true;
    if (value & OCW3_RR) this.readIsr = (value & OCW3_RIS) !== 0;
    if (value & OCW3_ESMM) this.specialMask = (value & OCW3_SMM) !== 0;
  }

  /**
   * The IS bit a non-specific EOI resets: the highest-priority one. "IS bits masked by an IMR
   * bit will not be cleared by a non-specific EOI if the 8259A is in the Special Mask Mode."
   */
  private highestInService(): number {
    const candidates = this.specialMask ? this.isr & ~this.imr : this.isr;
    const p = this.priority(candidates);
    return p === 8 ? -1 : (p + this.lowestPriority + 1) & 7;
  }

  /** Priority rank (0 highest) of the best bit of `mask` under the current rotation, or 8. */
  private priority(mask: number): number {
    if ((mask & 0xff) === 0) return 8;
    const first = this.lowestPriority + 1;
    let p = 0;
    while ((mask & (1 << ((p + first) & 7))) === 0) p++;
    return p;
  }

  private resampleLevels(): void {
    const level = this.levelTriggered;
    this.irr = (this.irr & ~level) | (this.lines & level);
  }
}
