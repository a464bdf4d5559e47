import type { AccessSize, IrqLine, Snapshottable } from "@pagurus/spec";
import type { IoDevice, PortRange } from "./ports.js";
import { readBytes, writeBytes } from "./ports.js";

// Status register bits (IBM PS/2 technical reference, 8042 status; names as QEMU's pckbd.c).
const STAT_OBF = 0x01;
const STAT_SELFTEST = 0x04; // "system flag"
const STAT_CMD = 0x08; // last write went to port 0x64
const STAT_UNLOCKED = 0x10; // keyboard not inhibited by the key lock
const STAT_MOUSE_OBF = 0x20;

// Command byte ("mode") bits.
const MODE_KBD_INT = 0x01;
const MODE_MOUSE_INT = 0x02;
const MODE_SYS = 0x04;
const MODE_DISABLE_KBD = 0x10;
const MODE_DISABLE_MOUSE = 0x20;
const MODE_KCC = 0x40; // translate set 2 to set 1

// Output port bits.
const OUT_RESET = 0x01; // 0 = hold the CPU in reset
const OUT_A20 = 0x02;

const ACK = 0xfa;
const RESEND = 0xfe;

export interface I8042Options {
  /** IRQ 1: keyboard data in the output buffer (command byte bit 0). */
  irq: IrqLine;
  /** IRQ 12: auxiliary-device data in the output buffer (command byte bit 1). Optional. */
  irqAux?: IrqLine;
  /** Output port bit 1. */
  a20: IrqLine;
  /** Pulsed (raised then lowered) when output port bit 0 goes low (0xFE, 0xF0-0xFF pulses, 0xD1 writes). */
  reset: IrqLine;
}

/** A byte waiting for the output buffer, and whether it comes from the auxiliary port. */
export interface I8042Byte {
  value: number;
  aux: boolean;
}

export interface I8042State {
  status: number;
  mode: number;
  outport: number;
  /** Byte in the output buffer, or null when OBF is clear. */
  obuf: I8042Byte | null;
  /** Replies of the controller itself (they take precedence over device data). */
  controllerQueue: I8042Byte[];
  keyboardQueue: number[];
  auxQueue: number[];
  /** Controller command waiting for its data byte on port 0x60 (0 = none). */
  pendingCommand: number;
  /** Keyboard command waiting for its parameter byte (0 = none). */
  keyboardCommand: number;
  scanning: boolean;
  scancodeSet: number;
  irqLevel: boolean;
  irqAuxLevel: boolean;
  /** Last byte read from port 0x60 (returned again when the buffer is empty). */
  lastRead: number;
}

/**
 * Intel 8042 keyboard controller with a PS/2 keyboard behind it, enough for firmware and
 * kernels that probe, reset through it, or gate A20 with it: status register, command byte
 * (0x20/0x60), self tests (0xAA -> 0x55, 0xAB/0xA9 -> 0x00), enable/disable of both ports,
 * output port (0xD0/0xD1) with A20 and reset, pulse commands 0xF0-0xFF, and the keyboard's
 * reset, identify, enable/disable, LEDs, typematic, echo and scan-code-set commands. No mouse
 * is attached: bytes sent to it (0xD4) are answered with 0xFE. Commands complete instantly, so
 * IBF always reads 0. Power-up values are QEMU's `kbd_reset`.
 */
export class I8042 implements IoDevice, Snapshottable<I8042State> {
  readonly ports: readonly PortRange[] = [
    { base: 0x60, count: 1 },
    { base: 0x64, count: 1 },
  ];
  private s: I8042State = {
    status: STAT_CMD | STAT_UNLOCKED,
    mode: MODE_KBD_INT | MODE_MOUSE_INT,
    outport: OUT_RESET | OUT_A20 | 0xcc,
    obuf: null,
    controllerQueue: [],
    keyboardQueue: [],
    auxQueue: [],
    pendingCommand: 0,
    keyboardCommand: 0,
    scanning: true,
    scancodeSet: 2,
    irqLevel: false,
    irqAuxLevel: false,
    lastRead: 0,
  };

  constructor(private readonly options: I8042Options) {}

  read(port: number, size: AccessSize): number {
    return readBytes(this.ports, port, size, (p) => (p === 0x64 ? this.readStatus() : this.readData()));
  }

  write(port: number, size: AccessSize, value: number): void {
    writeBytes(this.ports, port, size, value, (p, v) =>
      p === 0x64 ? this.writeCommand(v) : this.writeData(v),
    );
  }

  /**
   * Host side: bytes from the keyboard (scan codes exactly as the guest should read them; no
   * set 2 -> set 1 translation is done). Dropped while the keyboard has scanning disabled.
   */
  pressKey(bytes: readonly number[]): void {
    if (!this.s.scanning) return;
    for (const b of bytes) this.s.keyboardQueue.push(b & 0xff);
    this.fill();
  }

  /** Output port bit 1. */
  get a20(): boolean {
    return (this.s.outport & OUT_A20) !== 0;
  }

  save(): I8042State {
    return structuredCloneState(this.s);
  }

  restore(state: I8042State): void {
    this.s = structuredCloneState(state);
    this.options.irq.set(this.s.irqLevel);
    this.options.irqAux?.set(this.s.irqAuxLevel);
  }

  private readStatus(): number {
    const s = this.s;
    let v = s.status & ~(STAT_OBF | STAT_MOUSE_OBF);
    if (s.obuf) v |= STAT_OBF | (s.obuf.aux ? STAT_MOUSE_OBF : 0);
    return v;
  }

  private readData(): number {
    const s = this.s;
    const b = s.obuf;
    // Reading an empty buffer returns the last byte again (QEMU's ps2_read_data does the same).
    if (!b) return s.lastRead;
    s.obuf = null;
    s.lastRead = b.value;
    // Drop the line before the next byte moves in, so an edge-triggered PIC sees each byte.
    this.updateIrq();
    this.fill();
    return b.value;
  }

  private writeCommand(cmd: number): void {
    const s = this.s;
    s.status |= STAT_CMD;
    s.pendingCommand = 0;
    if (cmd >= 0x20 && cmd <= 0x3f) {
      // Read internal RAM; byte 0 is the command byte (other bytes read 0 here).
      this.reply(cmd === 0x20 ? s.mode : 0);
      return;
    }
    if (cmd >= 0x60 && cmd <= 0x7f) {
      if (cmd === 0x60) s.pendingCommand = cmd;
      return;
    }
    if (cmd >= 0xf0) {
      // Pulse output port bits 0-3 low for those bits clear in the command; bit 0 is CPU reset.
      if ((cmd & 1) === 0) this.pulseReset();
      return;
    }
    switch (cmd) {
      case 0xa7: // disable aux
        s.mode |= MODE_DISABLE_MOUSE;
        break;
      case 0xa8: // enable aux
        s.mode &= ~MODE_DISABLE_MOUSE;
        this.fill();
        break;
      case 0xa9: // aux interface test: 0 = no error
        this.reply(0x00);
        break;
      case 0xaa: // controller self test
        s.status |= STAT_SELFTEST;
        s.outport |= OUT_RESET;
        this.reply(0x55);
        break;
      case 0xab: // keyboard interface test
        this.reply(0x00);
        break;
      case 0xad: // disable keyboard
        s.mode |= MODE_DISABLE_KBD;
        break;
      case 0xae: // enable keyboard
        s.mode &= ~MODE_DISABLE_KBD;
        this.fill();
        break;
      case 0xc0: // read input port: keyboard not inhibited
        this.reply(0x80);
        break;
      case 0xd0: // read output port; bits 4/5 reflect the buffers
        this.reply((s.outport & 0xcf) | (s.obuf && !s.obuf.aux ? 0x10 : 0) | (s.obuf?.aux ? 0x20 : 0));
        break;
      case 0xd1: // write output port
      case 0xd2: // write keyboard output buffer
      case 0xd3: // write aux output buffer
      case 0xd4: // write to aux device
        s.pendingCommand = cmd;
        break;
      case 0xdd: // disable A20 (HP Vectra)
        this.writeOutport(s.outport & ~OUT_A20);
        break;
      case 0xdf: // enable A20
        this.writeOutport(s.outport | OUT_A20);
        break;
      case 0xe0: // read test inputs
        this.reply(0x00);
        break;
      default:
        break; // unknown commands are ignored (QEMU logs them)
    }
  }

  private writeData(v: number): void {
    const s = this.s;
    s.status &= ~STAT_CMD;
    const cmd = s.pendingCommand;
    s.pendingCommand = 0;
    switch (cmd) {
      case 0x60:
        s.mode = v;
        // The system flag follows command byte bit 2.
        s.status = (s.status & ~STAT_SELFTEST) | (v & MODE_SYS ? STAT_SELFTEST : 0);
        this.fill();
        break;
      case 0xd1:
        this.writeOutport(v);
        break;
      case 0xd2:
        s.controllerQueue.push({ value: v, aux: false });
        this.fill();
        break;
      case 0xd3:
        s.controllerQueue.push({ value: v, aux: true });
        this.fill();
        break;
      case 0xd4:
        // No mouse is attached: the controller answers for it.
        s.auxQueue.push(RESEND);
        this.fill();
        break;
      default:
        // Data to the keyboard. Sending it re-enables the keyboard interface, as QEMU does.
        s.mode &= ~MODE_DISABLE_KBD;
        this.keyboardWrite(v);
    }
  }

  private keyboardWrite(v: number): void {
    const s = this.s;
    const pending = s.keyboardCommand;
    if (pending !== 0) {
      s.keyboardCommand = 0;
      if (pending === 0xf0) {
        if (v === 0) {
          this.keyboardReply([ACK, s.scancodeSet]);
        } else {
          if (v >= 1 && v <= 3) s.scancodeSet = v;
          this.keyboardReply([ACK]);
        }
      } else {
        this.keyboardReply([ACK]); // LEDs (0xED) and typematic rate (0xF3) take one byte
      }
      return;
    }
    switch (v) {
      case 0xff: // reset: ACK, then basic assurance test passed
        s.scanning = true;
        s.scancodeSet = 2;
        s.keyboardQueue.length = 0;
        this.keyboardReply([ACK, 0xaa]);
        break;
      case 0xf2: // identify: MF2 keyboard, 0x41 when the controller translates
        this.keyboardReply([ACK, 0xab, s.mode & MODE_KCC ? 0x41 : 0x83]);
        break;
      case 0xf4: // enable scanning
        s.scanning = true;
        this.keyboardReply([ACK]);
        break;
      case 0xf5: // disable scanning and restore defaults
        s.scanning = false;
        s.scancodeSet = 2;
        this.keyboardReply([ACK]);
        break;
      case 0xf6: // set defaults
        s.scancodeSet = 2;
        this.keyboardReply([ACK]);
        break;
      case 0xed:
      case 0xf3:
      case 0xf0:
        s.keyboardCommand = v;
        this.keyboardReply([ACK]);
        break;
      case 0xee: // echo
        this.keyboardReply([0xee]);
        break;
      default:
        this.keyboardReply([RESEND]);
    }
  }

  private keyboardReply(bytes: number[]): void {
    // Replies to commands go ahead of pending keystrokes.
    this.s.keyboardQueue.unshift(...bytes);
    this.fill();
  }

  private reply(value: number): void {
    this.s.controllerQueue.push({ value, aux: false });
    this.fill();
  }

  private writeOutport(v: number): void {
    const s = this.s;
    s.outport = v;
    this.options.a20.set((v & OUT_A20) !== 0);
    if ((v & OUT_RESET) === 0) this.pulseReset();
  }

  private pulseReset(): void {
    this.options.reset.set(true);
    this.options.reset.set(false);
  }

  /** Moves the next byte into an empty output buffer: controller replies first, then keyboard, then aux. */
  private fill(): void {
    const s = this.s;
    if (!s.obuf) {
      if (s.controllerQueue.length > 0) {
        s.obuf = s.controllerQueue.shift()!;
      } else if (s.keyboardQueue.length > 0 && !(s.mode & MODE_DISABLE_KBD)) {
        s.obuf = { value: s.keyboardQueue.shift()!, aux: false };
      } else if (s.auxQueue.length > 0 && !(s.mode & MODE_DISABLE_MOUSE)) {
        s.obuf = { value: s.auxQueue.shift()!, aux: true };
      }
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const s = this.s;
    const kbd = s.obuf !== null && !s.obuf.aux && (s.mode & MODE_KBD_INT) !== 0;
    const aux = s.obuf?.aux === true && (s.mode & MODE_MOUSE_INT) !== 0;
    if (kbd !== s.irqLevel) {
      s.irqLevel = kbd;
      this.options.irq.set(kbd);
    }
    if (aux !== s.irqAuxLevel) {
      s.irqAuxLevel = aux;
      this.options.irqAux?.set(aux);
    }
  }
}

function structuredCloneState(s: I8042State): I8042State {
  return {
    ...s,
    obuf: s.obuf ? { ...s.obuf } : null,
    controllerQueue: s.controllerQueue.map((b) => ({ ...b })),
    keyboardQueue: [...s.keyboardQueue],
    auxQueue: [...s.auxQueue],
  };
}
