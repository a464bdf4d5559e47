import type { AccessSize, Clock, IrqLine, Snapshottable, Timer } from "@pagurus/spec";
import type { IoDevice, PortRange } from "./ports.js";
import { readBytes, writeBytes } from "./ports.js";

// Register bits (National PC16550D datasheet; names as in Linux's serial_reg.h).
const IER_RDI = 0x01; // received data available
const IER_THRI = 0x02; // transmitter holding register empty
const IER_RLSI = 0x04; // receiver line status
const IER_MSI = 0x08; // modem status

const IIR_NO_INT = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_CTI = 0x0c; // character timeout
const IIR_FIFO_ENABLED = 0xc0;

const FCR_FE = 0x01;
const FCR_RFR = 0x02;
const FCR_XFR = 0x04;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_PE = 0x04;
const LSR_FE = 0x08;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_FIFO_ERR = 0x80;
const LSR_INT_ANY = LSR_OE | LSR_PE | LSR_FE | LSR_BI;

const MSR_DCTS = 0x01;
const MSR_DDSR = 0x02;
const MSR_TERI = 0x04;
const MSR_DDCD = 0x08;
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;

const FIFO_SIZE = 16;
const TRIGGER_LEVELS = [1, 4, 8, 14];
/** The UART's clock divided by 16: 1.8432 MHz / 16, the baud rate of divisor 1. */
const BAUD_BASE = 115_200;

/** Modem input lines driven by the host side (true = asserted). */
export interface ModemInputs {
  cts: boolean;
  dsr: boolean;
  ri: boolean;
  dcd: boolean;
}

export interface UartOptions {
  /** First of the eight ports (COM1 0x3F8, COM2 0x2F8, COM3 0x3E8, COM4 0x2E8). */
  base?: number;
  /** The interrupt line (IRQ 4 for COM1/COM3, IRQ 3 for COM2/COM4). */
  irq: IrqLine;
  /** Used for the FIFO character-timeout interrupt (four character times at the programmed rate). */
  clock: Clock;
  /**
   * Called with each byte the guest transmits (not in loopback mode). Returning `false` says
   * the line takes no more for now (a slow reader): the byte was taken, but THR then reads
   * full (LSR.THRE and TEMT clear) until {@link Uart16550.transmitReady}, as a 16550 whose
   * line is held busy; further bytes wait in THR (one) or the transmit FIFO (sixteen).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing must fit; only false counts
  onTransmit?: (byte: number) => boolean | void;
  /**
   * PCs route INTR through a buffer enabled by MCR.OUT2, so a driver must set OUT2 to get
   * interrupts (default true). QEMU's serial.c does not model this gate; pass false to match it.
   */
  out2GatesIrq?: boolean;
}

export interface UartState {
  rbr: number;
  ier: number;
  lcr: number;
  mcr: number;
  lsr: number;
  msr: number;
  scr: number;
  fcr: number;
  divisor: number;
  rxFifo: number[];
  /** Bytes given to `receive` that have not yet fit in the receiver. */
  hostQueue: number[];
  thrIpending: boolean;
  timeoutIpending: boolean;
  /** Absolute clock tick of the pending character-timeout check, or null. */
  timeoutAt: number | null;
  inputs: ModemInputs;
  /** Bytes in THR or the transmit FIFO while the line is busy (see `onTransmit`). */
  txFifo: number[];
  /** `onTransmit` returned false and {@link Uart16550.transmitReady} has not been called since. */
  lineBusy: boolean;
}

/**
 * National Semiconductor 16550A UART. Transmission is instantaneous while the host keeps up: a
 * byte written to THR is handed to `onTransmit` at once and THR/TSR are empty again, so THRE and
 * TEMT read back set and the THRE interrupt re-arms as QEMU's serial.c does. When the host says
 * its line is busy (`onTransmit` returns false), THR and the transmit FIFO fill and stay full
 * until {@link Uart16550.transmitReady}, as on hardware whose line drains slowly. Reception is paced like QEMU's chardev
 * front end: bytes from `receive` wait on the host side until the receiver has room (one byte
 * without FIFO, sixteen with), so the host never overruns the guest.
 */
export class Uart16550 implements IoDevice, Snapshottable<UartState> {
  readonly ports: readonly PortRange[];
  private readonly base: number;
  private readonly irq: IrqLine;
  private readonly clock: Clock;
  private readonly out2GatesIrq: boolean;
  /** Host-side sink; may be replaced after construction. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing must fit; only false counts
  onTransmit: ((byte: number) => boolean | void) | undefined;

  private rbr = 0;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  private msr = 0;
  private scr = 0;
  private fcr = 0;
  private divisor = 12; // QEMU's reset value: 9600 baud
  private rxFifo: number[] = [];
  private hostQueue: number[] = [];
  private thrIpending = false;
  private timeoutIpending = false;
  private timeoutAt: number | null = null;
  private timeoutTimer: Timer | null = null;
  private inputs: ModemInputs = { cts: true, dsr: true, ri: false, dcd: true };
  private irqLevel = false;
  private txFifo: number[] = [];
  private lineBusy = false;

  constructor(options: UartOptions) {
    this.base = options.base ?? 0x3f8;
    this.irq = options.irq;
    this.clock = options.clock;
    this.onTransmit = options.onTransmit;
    this.out2GatesIrq = options.out2GatesIrq ?? true;
    this.ports = [{ base: this.base, count: 8 }];
    this.msr = this.modemStatusBits();
  }

  read(port: number, size: AccessSize): number {
    // Byte accesses are nearly all of them: skip the splitting helper and its closure.
    if (size === 1) return this.read8(port - this.base);
    return readBytes(this.ports, port, size, (p) => this.read8(p - this.base));
  }

  write(port: number, size: AccessSize, value: number): void {
    if (size === 1) this.write8(port - this.base, value & 0xff);
    else writeBytes(this.ports, port, size, value, (p, v) => this.write8(p - this.base, v));
  }

  /** Host side: queue bytes for the guest to receive. */
  receive(bytes: Iterable<number> | string): void {
    if (typeof bytes === "string") {
      for (const b of utf8(bytes)) this.hostQueue.push(b);
    } else {
      for (const b of bytes) this.hostQueue.push(b & 0xff);
    }
    this.pumpHost();
  }

  /** Bytes queued by `receive` that the guest has not yet let in. */
  get pendingInput(): number {
    return this.hostQueue.length;
  }

  /** Host side: a break condition on the line (a zero character with BI set, 16550 section 8.6.3). */
  receiveBreak(): void {
    this.receiveByte(0, LSR_BI);
  }

  /** Host side: the modem input lines; changes set the MSR delta bits. */
  setModemInputs(inputs: Partial<ModemInputs>): void {
    this.inputs = { ...this.inputs, ...inputs };
    if ((this.mcr & MCR_LOOP) === 0) this.updateMsr(this.modemStatusBits());
  }

  /** Divisor latch (DLM:DLL). */
  get baudRate(): number {
    return BAUD_BASE / (this.divisor || 1);
  }

  get irqAsserted(): boolean {
    return this.irqLevel;
  }

  save(): UartState {
    return {
      rbr: this.rbr,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      lsr: this.lsr,
      msr: this.msr,
      scr: this.scr,
      fcr: this.fcr,
      divisor: this.divisor,
      rxFifo: [...this.rxFifo],
      hostQueue: [...this.hostQueue],
      thrIpending: this.thrIpending,
      timeoutIpending: this.timeoutIpending,
      timeoutAt: this.timeoutAt,
      inputs: { ...this.inputs },
      txFifo: [...this.txFifo],
      lineBusy: this.lineBusy,
    };
  }

  restore(s: UartState): void {
    this.rbr = s.rbr;
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.lsr = s.lsr;
    this.msr = s.msr;
    this.scr = s.scr;
    this.fcr = s.fcr;
    this.divisor = s.divisor;
    this.rxFifo = [...s.rxFifo];
    this.hostQueue = [...s.hostQueue];
    this.thrIpending = s.thrIpending;
    this.timeoutIpending = s.timeoutIpending;
    this.inputs = { ...s.inputs };
    this.txFifo = [...s.txFifo];
    this.lineBusy = s.lineBusy;
    this.timeoutTimer?.cancel();
    this.timeoutTimer = null;
    this.timeoutAt = null;
    if (s.timeoutAt !== null) this.armTimeoutAt(s.timeoutAt);
    this.updateIrq();
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & FCR_FE) !== 0;
  }

  private read8(offset: number): number {
    switch (offset) {
      case 0: {
        if (this.lcr & LCR_DLAB) return this.divisor & 0xff;
        return this.readRbr();
      }
      case 1:
        return this.lcr & LCR_DLAB ? (this.divisor >> 8) & 0xff : this.ier;
      case 2: {
        const iir = this.iir();
        // Reading IIR while it reports THRE clears that interrupt (16550 table 4).
        if ((iir & 0x0f) === IIR_THRI) {
          this.thrIpending = false;
          this.updateIrq();
        }
        return iir;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        const v = this.lsr;
        // Reading LSR clears OE, PE, FE and BI, and with them the line-status interrupt.
        if (v & (LSR_INT_ANY | LSR_FIFO_ERR)) {
          this.lsr &= ~(LSR_INT_ANY | LSR_FIFO_ERR);
          this.updateIrq();
        }
        return v;
      }
      case 6: {
        const v = this.msr;
        // Reading MSR clears the delta bits, and with them the modem-status interrupt.
        if (v & 0x0f) {
          this.msr &= 0xf0;
          this.updateIrq();
        }
        return v;
      }
      default:
        return this.scr;
    }
  }

  private write8(offset: number, value: number): void {
    switch (offset) {
      case 0:
        if (this.lcr & LCR_DLAB) {
          this.divisor = (this.divisor & 0xff00) | value;
        } else {
          this.transmit(value);
        }
        break;
      case 1:
        if (this.lcr & LCR_DLAB) {
          this.divisor = (this.divisor & 0x00ff) | (value << 8);
        } else {
          const changed = (this.ier ^ value) & 0x0f;
          this.ier = value & 0x0f;
          // Enabling ETBEI while THR is empty raises THRE even if it was acknowledged before
          // (QEMU serial.c; Windows depends on it).
          if (changed & IER_THRI)
            this.thrIpending = (this.ier & IER_THRI) !== 0 && (this.lsr & LSR_THRE) !== 0;
          this.updateIrq();
        }
        break;
      case 2:
        this.writeFcr(value);
        break;
      case 3:
        this.lcr = value;
        break;
      case 4: {
        const old = this.mcr;
        this.mcr = value & 0x1f;
        // In loopback MSR follows MCR's outputs; leaving it returns MSR to the real lines.
        if ((old ^ this.mcr) & MCR_LOOP || this.mcr & MCR_LOOP) this.updateMsr(this.modemStatusBits());
        this.pumpHost();
        this.updateIrq();
        break;
      }
      case 5:
        // LSR is read-only in practice (writes are for factory test); QEMU ignores them too.
        break;
      case 6:
        break;
      default:
        this.scr = value;
    }
  }

  private writeFcr(value: number): void {
    // Changing the FIFO enable bit clears both FIFOs (16550 FCR bit 0).
    if ((value ^ this.fcr) & FCR_FE) value |= FCR_RFR | FCR_XFR;
    if (value & FCR_RFR) {
      this.rxFifo.length = 0;
      this.lsr &= ~(LSR_DR | LSR_FIFO_ERR);
      this.timeoutIpending = false;
      this.cancelTimeout();
    }
    // XFR drops what waits for a busy line; THRE follows when the line is ready again.
    if (value & FCR_XFR) this.txFifo.length = 0;
    this.fcr = value & 0xc9; // RFR and XFR are self-clearing
    this.pumpHost();
    this.updateIrq();
  }

  private transmit(value: number): void {
    // Writing THR clears a pending THRE interrupt; the byte then leaves at once and THRE sets again.
    this.thrIpending = false;
    this.lsr &= ~(LSR_THRE | LSR_TEMT);
    this.updateIrq();
    if (this.mcr & MCR_LOOP) {
      this.receiveByte(value, 0);
    } else if (this.lineBusy) {
      // The line is busy: the byte waits in THR or the FIFO; a write to a full one is lost,
      // as on a 16550 (the driver should have waited for THRE).
      if (this.txFifo.length < (this.fifoEnabled ? FIFO_SIZE : 1)) this.txFifo.push(value);
      return;
    } else if (this.onTransmit?.(value) === false) {
      this.lineBusy = true;
      return;
    }
    this.lsr |= LSR_THRE | LSR_TEMT;
    this.thrIpending = true;
    this.updateIrq();
  }

  /**
   * Host side: the line takes bytes again after `onTransmit` returned false. What waits in THR
   * and the FIFO is sent; once all is sent THRE (and its interrupt) come back.
   */
  transmitReady(): void {
    if (!this.lineBusy) return;
    this.lineBusy = false;
    while (this.txFifo.length > 0) {
      if (this.onTransmit?.(this.txFifo.shift()!) === false) {
        this.lineBusy = true;
        return;
      }
    }
    this.lsr |= LSR_THRE | LSR_TEMT;
    this.thrIpending = true;
    this.updateIrq();
  }

  private readRbr(): number {
    let v: number;
    if (this.fifoEnabled) {
      v = this.rxFifo.length > 0 ? this.rxFifo.shift()! : this.rbr;
      if (this.rxFifo.length === 0) this.lsr &= ~(LSR_DR | LSR_FIFO_ERR);
      this.timeoutIpending = false;
      this.rbr = v;
      // A read restarts the character-timeout count (16550 section 8.6.2).
      this.cancelTimeout();
    } else {
      v = this.rbr;
      this.lsr &= ~LSR_DR;
    }
    this.pumpHost();
    if (this.fifoEnabled && this.rxFifo.length > 0) this.armTimeout();
    this.updateIrq();
    return v;
  }

  /** Moves queued host bytes into the receiver while it has room. */
  private pumpHost(): void {
    let moved = false;
    while (this.hostQueue.length > 0) {
      if (this.fifoEnabled ? this.rxFifo.length >= FIFO_SIZE : (this.lsr & LSR_DR) !== 0) break;
      // In loopback the receiver is connected to the transmitter, not to the line.
      if (this.mcr & MCR_LOOP) break;
      this.receiveByte(this.hostQueue.shift()!, 0, false);
      moved = true;
    }
    if (moved) this.updateIrq();
  }

  private receiveByte(byte: number, errors: number, update = true): void {
    if (this.fifoEnabled) {
      if (this.rxFifo.length >= FIFO_SIZE) {
        // FIFO overrun: the FIFO keeps its contents, the new character is lost.
        this.lsr |= LSR_OE;
      } else {
        this.rxFifo.push(byte);
        if (errors) this.lsr |= LSR_FIFO_ERR;
      }
      this.armTimeout();
    } else {
      // 16450 mode: a character arriving while DR is set overwrites RBR and sets OE.
      if (this.lsr & LSR_DR) this.lsr |= LSR_OE;
      this.rbr = byte;
    }
    this.lsr |= LSR_DR | errors;
    if (update) this.updateIrq();
  }

  /** Four character times from now (16550 section 8.6.2), in clock ticks. */
  private armTimeout(): void {
    const lcr = this.lcr;
    const bits = 1 + 5 + (lcr & 3) + (lcr & 0x08 ? 1 : 0) + (lcr & 0x04 ? 2 : 1);
    const ticks = Math.max(1, Math.ceil((4 * bits * this.clock.frequency) / this.baudRate));
    this.armTimeoutAt(this.clock.now + ticks);
  }

  private armTimeoutAt(at: number): void {
    this.cancelTimeout();
    this.timeoutAt = at;
    this.timeoutTimer = this.clock.schedule(at, () => {
      this.timeoutTimer = null;
      this.timeoutAt = null;
      if (this.fifoEnabled && this.rxFifo.length > 0) {
        this.timeoutIpending = true;
        this.updateIrq();
      }
    });
  }

  private cancelTimeout(): void {
    this.timeoutTimer?.cancel();
    this.timeoutTimer = null;
    this.timeoutAt = null;
  }

  /** IIR by the 16550's priority: line status > received data / timeout > THRE > modem status. */
  private iir(): number {
    let id = IIR_NO_INT;
    const ier = this.ier;
    if (ier & IER_RLSI && this.lsr & LSR_INT_ANY) {
      id = IIR_RLSI;
    } else if (ier & IER_RDI && this.rxDataInterrupt()) {
      id = IIR_RDI;
    } else if (ier & IER_RDI && this.timeoutIpending) {
      id = IIR_CTI;
    } else if (ier & IER_THRI && this.thrIpending) {
      id = IIR_THRI;
    } else if (ier & IER_MSI && this.msr & 0x0f) {
      id = IIR_MSI;
    }
    return id | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
  }

  private rxDataInterrupt(): boolean {
    if (!this.fifoEnabled) return (this.lsr & LSR_DR) !== 0;
    return this.rxFifo.length >= TRIGGER_LEVELS[this.fcr >> 6];
  }

  private updateIrq(): void {
    const pending = (this.iir() & IIR_NO_INT) === 0;
    const level = pending && (!this.out2GatesIrq || (this.mcr & MCR_OUT2) !== 0);
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  /** MSR bits 4-7 from the host lines, or from MCR in loopback (16550 MCR bit 4). */
  private modemStatusBits(): number {
    if (this.mcr & MCR_LOOP) {
      const m = this.mcr;
      return (
        (m & MCR_RTS ? MSR_CTS : 0) |
        (m & MCR_DTR ? MSR_DSR : 0) |
        (m & MCR_OUT1 ? MSR_RI : 0) |
        (m & MCR_OUT2 ? MSR_DCD : 0)
      );
    }
    const i = this.inputs;
    return (i.cts ? MSR_CTS : 0) | (i.dsr ? MSR_DSR : 0) | (i.ri ? MSR_RI : 0) | (i.dcd ? MSR_DCD : 0);
  }

  private updateMsr(lines: number): void {
    const old = this.msr;
    let delta = old & 0x0f;
    const changed = (old ^ lines) & 0xf0;
    if (changed & MSR_CTS) delta |= MSR_DCTS;
    if (changed & MSR_DSR) delta |= MSR_DDSR;
    if (changed & MSR_DCD) delta |= MSR_DDCD;
    // TERI: only the trailing edge of RI (RI going inactive) sets it.
    if (changed & MSR_RI && (lines & MSR_RI) === 0) delta |= MSR_TERI;
    this.msr = lines | delta;
    this.updateIrq();
  }
}

/** UTF-8 bytes of a string (no TextEncoder: the package targets plain ES2023). */
function utf8(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return out;
}
