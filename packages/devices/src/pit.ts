import type { AccessSize, Clock, IrqLine, Snapshottable, Timer } from "@pagurus/spec";
import { RateConverter } from "./clock.js";
import type { IoDevice, PortRange } from "./ports.js";
import { readBytes, writeBytes } from "./ports.js";

/** The 8254's input clock on PCs: 14.31818 MHz / 12. */
export const PIT_FREQUENCY = 1_193_182;

/** Access modes (control word bits RW1..RW0). */
const ACCESS_LSB = 1;
const ACCESS_MSB = 2;
const ACCESS_LOHI = 3;

/** One counter's saved state (all plain numbers; `null` means "none"). */
export interface PitCounterState {
  /** Mode bits M2..M0 as programmed (6 and 7 behave as 2 and 3). */
  modeBits: number;
  bcd: boolean;
  /** RW1..RW0: 1 lsb only, 2 msb only, 3 lsb then msb. */
  access: number;
  /** Count register (CR) in clocks, 1..65536 (1..10000 in BCD); `null` until a count is written. */
  cr: number | null;
  /** The count the counting element (CE) is working from. */
  n: number;
  /** PIT cycle at which the CE was loaded with `n` (elapsed clocks are measured from it); `null` = not counting. */
  loadCycle: number | null;
  /** Elapsed clocks frozen while GATE is low (modes 0, 2, 3, 4). */
  pausedAt: number | null;
  /** Modes 2/3: cycle at which `cr` replaces `n` (end of the current period). */
  pendingAt: number | null;
  gate: boolean;
  writeMsbNext: boolean;
  writeLatch: number;
  readMsbNext: boolean;
  /** Output latch of a counter-latch or read-back command. */
  latched: number | null;
  /** Which byte of `latched` comes next: 1 lsb (then done), 2 msb (then done), 3 lsb then msb. */
  latchedState: number;
  /** Status byte latched by a read-back command. */
  status: number | null;
}

export interface PitState {
  counters: PitCounterState[];
}

export interface PitOptions {
  clock: Clock;
  /** Driven by OUT of counter 0 (IRQ 0 on PCs). */
  irq: IrqLine;
  /** First of the four ports (default 0x40). */
  base?: number;
}

/**
 * Intel 8254 programmable interval timer (datasheet 231164-005). Counters are not ticked:
 * each one remembers the PIT cycle at which its counting element was loaded, and its count
 * and OUT are computed from the elapsed clocks, `clock.now` converted at 1.193182 MHz. Only
 * counter 0's OUT edges are scheduled on the clock, because they drive IRQ 0.
 *
 * Following the datasheet, a count written in modes 0, 2, 3 and 4 is loaded on the next CLK
 * pulse, a gate trigger in modes 1 and 5 on the CLK pulse after it. Power-up state is the
 * one QEMU's `pit_reset` gives: every counter in mode 3 with count 0 (65536), gates 0 and 1
 * high, gate 2 low, so IRQ 0 runs at 18.2 Hz until software reprograms counter 0.
 */
export class Pit8254 implements IoDevice, Snapshottable<PitState> {
  readonly ports: readonly PortRange[];
  private readonly base: number;
  private readonly clock: Clock;
  private readonly irq: IrqLine;
  private readonly conv: RateConverter;
  private counters: PitCounterState[] = [];
  private timer: Timer | null = null;

  constructor(options: PitOptions) {
    this.clock = options.clock;
    this.irq = options.irq;
    this.base = options.base ?? 0x40;
    this.ports = [{ base: this.base, count: 4 }];
    this.conv = new RateConverter(this.clock.frequency, PIT_FREQUENCY);
    this.reset();
  }

  /** PIT cycles elapsed since tick 0 of the clock (port 0x61's refresh bit is derived from it). */
  get cycle(): number {
    return this.conv.cycles(this.clock.now);
  }

  /** The power-up state described on the class. */
  reset(): void {
    const now = this.cycle;
    this.counters = [0, 1, 2].map((i) => ({
      modeBits: 3,
      bcd: false,
      access: ACCESS_LOHI,
      cr: 0x10000,
      n: 0x10000,
      loadCycle: now,
      pausedAt: i === 2 ? 0 : null,
      pendingAt: null,
      gate: i !== 2,
      writeMsbNext: false,
      writeLatch: 0,
      readMsbNext: false,
      latched: null,
      latchedState: 0,
      status: null,
    }));
    this.update0();
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

  /** GATE input of a counter (only counter 2's is wired to anything on PCs: port 0x61 bit 0). */
  setGate(counter: number, level: boolean): void {
    const c = this.counters[counter];
    if (c.gate === level) return;
    const cyc = this.cycle;
    this.settle(c, cyc);
    c.gate = level;
    const mode = modeOf(c);
    if (level) {
      // Rising edge: modes 1 and 5 (re)trigger, modes 2 and 3 reload and restart, modes 0 and 4 resume.
      if (mode === 1 || mode === 5) {
        if (c.cr !== null) {
          c.n = c.cr;
          c.loadCycle = cyc + 1;
        }
      } else if (mode === 2 || mode === 3) {
        if (c.loadCycle !== null) {
          if (c.pendingAt !== null && c.cr !== null) c.n = c.cr;
          c.pendingAt = null;
          c.pausedAt = null;
          c.loadCycle = cyc + 1;
        }
      } else if (c.loadCycle !== null && c.pausedAt !== null) {
        c.loadCycle = cyc - c.pausedAt;
        c.pausedAt = null;
      }
    } else if (mode !== 1 && mode !== 5 && c.loadCycle !== null && c.pausedAt === null) {
      // Gate low suspends counting (and forces OUT high in modes 2 and 3).
      c.pausedAt = Math.max(0, cyc - c.loadCycle);
    }
    if (counter === 0) this.update0();
  }

  getGate(counter: number): boolean {
    return this.counters[counter].gate;
  }

  /** Level of a counter's OUT pin now. */
  getOut(counter: number): boolean {
    const c = this.counters[counter];
    const cyc = this.cycle;
    this.settle(c, cyc);
    return outAt(c, elapsed(c, cyc));
  }

  save(): PitState {
    return { counters: this.counters.map((c) => ({ ...c })) };
  }

  restore(state: PitState): void {
    this.counters = state.counters.map((c) => ({ ...c }));
    this.update0();
  }

  private read8(offset: number): number {
    // The control word register is write-only; QEMU's i8254.c (and KVM's copy) read it as 0.
    if (offset === 3) return 0;
    const c = this.counters[offset];
    if (c.status !== null) {
      const s = c.status;
      c.status = null;
      return s;
    }
    if (c.latched !== null) {
      const v = c.latched;
      if (c.latchedState === ACCESS_LOHI) {
        c.latchedState = ACCESS_MSB;
        return v & 0xff;
      }
      c.latched = null;
      return c.latchedState === ACCESS_MSB ? (v >> 8) & 0xff : v & 0xff;
    }
    const v = this.countNow(c);
    switch (c.access) {
      case ACCESS_LSB:
        return v & 0xff;
      case ACCESS_MSB:
        return (v >> 8) & 0xff;
      default:
        c.readMsbNext = !c.readMsbNext;
        return c.readMsbNext ? v & 0xff : (v >> 8) & 0xff;
    }
  }

  private write8(offset: number, value: number): void {
    if (offset === 3) {
      this.control(value);
      return;
    }
    const c = this.counters[offset];
    switch (c.access) {
      case ACCESS_LSB:
        this.loadCount(offset, value);
        break;
      case ACCESS_MSB:
        this.loadCount(offset, value << 8);
        break;
      default:
        if (!c.writeMsbNext) {
          c.writeLatch = value;
          c.writeMsbNext = true;
          // Mode 0: writing the first byte stops the count and drives OUT low at once (datasheet, mode 0).
          if (modeOf(c) === 0) {
            c.loadCycle = null;
            c.pausedAt = null;
            if (offset === 0) this.update0();
          }
        } else {
          c.writeMsbNext = false;
          this.loadCount(offset, c.writeLatch | (value << 8));
        }
    }
  }

  private control(value: number): void {
    const sc = value >> 6;
    if (sc === 3) {
      this.readBack(value);
      return;
    }
    const c = this.counters[sc];
    const rw = (value >> 4) & 3;
    if (rw === 0) {
      // Counter latch command: a second latch before the first is read is ignored.
      if (c.latched === null) {
        c.latched = this.countNow(c);
        c.latchedState = c.access;
      }
      return;
    }
    c.access = rw;
    c.modeBits = (value >> 1) & 7;
    c.bcd = (value & 1) !== 0;
    // A control word resets the counter's logic: no count, counting stops, OUT goes to its initial state.
    c.cr = null;
    c.loadCycle = null;
    c.pausedAt = null;
    c.pendingAt = null;
    c.writeMsbNext = false;
    c.readMsbNext = false;
    if (sc === 0) this.update0();
  }

  private readBack(value: number): void {
    for (let i = 0; i < 3; i++) {
      if ((value & (2 << i)) === 0) continue;
      const c = this.counters[i];
      // Bit 5 clear: latch count; bit 4 clear: latch status. Already-latched values are kept.
      if ((value & 0x20) === 0 && c.latched === null) {
        c.latched = this.countNow(c);
        c.latchedState = c.access;
      }
      if ((value & 0x10) === 0 && c.status === null) {
        const cyc = this.cycle;
        this.settle(c, cyc);
        const out = outAt(c, elapsed(c, cyc));
        c.status =
          (out ? 0x80 : 0) |
          (nullCount(c, cyc) ? 0x40 : 0) |
          (c.access << 4) |
          (c.modeBits << 1) |
          (c.bcd ? 1 : 0);
      }
    }
  }

  private loadCount(index: number, raw: number): void {
    const c = this.counters[index];
    const cyc = this.cycle;
    this.settle(c, cyc);
    const n = decodeCount(raw & 0xffff, c.bcd);
    c.cr = n;
    const mode = modeOf(c);
    if (mode === 1 || mode === 5) {
      // Hardware-triggered modes: the new count waits for the next gate trigger.
    } else if ((mode === 2 || mode === 3) && c.loadCycle !== null && c.pausedAt === null) {
      // A new count in modes 2/3 does not disturb the current period; it is loaded at its end.
      // (The datasheet loads mode 3 at the end of the half-cycle; we use the full period.)
      const d = elapsed(c, cyc);
      c.pendingAt = c.loadCycle + (Math.floor(d / c.n) + 1) * c.n;
    } else {
      c.n = n;
      c.loadCycle = cyc + 1;
      c.pausedAt = c.gate ? null : 0;
      c.pendingAt = null;
    }
    if (index === 0) this.update0();
  }

  /** The counting element as the read logic sees it (BCD-encoded in BCD mode). */
  private countNow(c: PitCounterState): number {
    const cyc = this.cycle;
    this.settle(c, cyc);
    const v = countAt(c, elapsed(c, cyc));
    return c.bcd ? encodeBcd(v % 10000) : v & 0xffff;
  }

  /** Applies a mode 2/3 reload whose time has come. */
  private settle(c: PitCounterState, cyc: number): void {
    if (c.pendingAt !== null && c.pausedAt === null && cyc >= c.pendingAt && c.cr !== null) {
      c.n = c.cr;
      c.loadCycle = c.pendingAt;
      c.pendingAt = null;
    }
  }

  /** Drives IRQ 0 from counter 0's OUT and schedules the next edge. */
  private update0(): void {
    this.timer?.cancel();
    this.timer = null;
    const c = this.counters[0];
    const cyc = this.cycle;
    this.settle(c, cyc);
    const d = elapsed(c, cyc);
    this.irq.set(outAt(c, d));
    this.scheduleFrom(d);
  }

  /** Schedules counter 0's next OUT transition strictly after elapsed clock `d`. */
  private scheduleFrom(d: number): void {
    const c = this.counters[0];
    if (c.loadCycle === null || c.pausedAt !== null) return;
    let at = nextTransition(c, d);
    if (at === null && c.pendingAt === null) return;
    let target = at === null ? null : c.loadCycle + at;
    if (c.pendingAt !== null && (target === null || target >= c.pendingAt)) target = c.pendingAt;
    at = target!;
    this.timer = this.clock.schedule(this.conv.tickOf(at), () => {
      this.timer = null;
      // Evaluate OUT at the very cycle of the edge, not at `now`: with a clock slower than the
      // PIT a one-clock pulse (mode 2, mode 4) still yields both of its edges, in order.
      this.settle(c, at);
      const de = at - c.loadCycle!;
      this.irq.set(outAt(c, de));
      this.scheduleFrom(de);
    });
  }
}

function modeOf(c: PitCounterState): number {
  return c.modeBits > 5 ? c.modeBits - 4 : c.modeBits;
}

/** Set by a control word or a count write, cleared when CR is transferred into CE (datasheet, read-back status). */
function nullCount(c: PitCounterState, cyc: number): boolean {
  if (c.pendingAt !== null) return true;
  if (c.loadCycle === null) return true;
  return cyc < c.loadCycle;
}

/** Clocks elapsed since the CE was loaded (0 before the load clock), or -1 when not counting. */
function elapsed(c: PitCounterState, cyc: number): number {
  if (c.loadCycle === null) return -1;
  if (c.pausedAt !== null) return c.pausedAt;
  return Math.max(0, cyc - c.loadCycle);
}

/** OUT after `d` clocks of counting (datasheet figures for modes 0-5). */
function outAt(c: PitCounterState, d: number): boolean {
  const mode = modeOf(c);
  if (d < 0) return mode !== 0; // after a control word: low in mode 0, high otherwise
  const n = c.n;
  switch (mode) {
    case 0:
    case 1:
      // Mode 0 goes high at terminal count; mode 1 is low from the trigger to terminal count.
      return d >= n;
    case 2:
      if (c.pausedAt !== null) return true;
      return n < 2 || d % n !== n - 1; // low for the one clock when the count is 1
    case 3:
      if (c.pausedAt !== null) return true;
      return d % n < (n + 1) >> 1; // high for ceil(N/2) clocks, low for floor(N/2)
    default:
      return d !== n; // modes 4 and 5: low for one clock at terminal count
  }
}

/** The CE's value after `d` clocks (binary; may be 65536 or 10000, which read as 0). */
function countAt(c: PitCounterState, d: number): number {
  const n = c.n;
  const modulus = c.bcd ? 10000 : 0x10000;
  if (d < 0) return c.cr ?? 0;
  switch (modeOf(c)) {
    case 2:
      return n - (d % n);
    case 3: {
      // Counts down by two; odd counts load N-1 (datasheet, mode 3).
      const p = d % n;
      const hi = (n + 1) >> 1;
      const q = p < hi ? p : p - hi;
      return Math.max(0, (n & ~1) - 2 * q);
    }
    default:
      // Modes 0, 1, 4, 5 keep counting down past zero and wrap.
      return (((n - d) % modulus) + modulus) % modulus;
  }
}

/** The smallest elapsed count > d at which OUT changes, or null if it never does. */
function nextTransition(c: PitCounterState, d: number): number | null {
  const n = c.n;
  switch (modeOf(c)) {
    case 0:
    case 1:
      return d < n ? n : null;
    case 2: {
      if (n < 2) return null;
      const p = d % n;
      return p < n - 1 ? d - p + n - 1 : d + 1;
    }
    case 3: {
      if (n < 2) return null;
      const p = d % n;
      const hi = (n + 1) >> 1;
      return p < hi ? d - p + hi : d - p + n;
    }
    default:
      if (d < n) return n;
      if (d === n) return n + 1;
      return null;
  }
}

function decodeCount(raw: number, bcd: boolean): number {
  if (!bcd) return raw === 0 ? 0x10000 : raw;
  const v = (raw & 0xf) + ((raw >> 4) & 0xf) * 10 + ((raw >> 8) & 0xf) * 100 + ((raw >> 12) & 0xf) * 1000;
  return v === 0 ? 10000 : v;
}

function encodeBcd(v: number): number {
  return (
    (v % 10) |
    ((Math.floor(v / 10) % 10) << 4) |
    ((Math.floor(v / 100) % 10) << 8) |
    ((Math.floor(v / 1000) % 10) << 12)
  );
}

/** What {@link SystemControlPortB.save} returns. */
export interface PortBState {
  /** Bits 0-3 as last written. */
  value: number;
}

/**
 * Port 0x61, the AT's system control port B: bit 0 drives counter 2's GATE, bit 1 enables the
 * speaker, bits 2-3 are parity/channel check disables; reads add bit 4, the DRAM refresh
 * toggle (flips every 15.085 us: counter 1 was programmed to 18 clocks for refresh on the AT,
 * and BIOS/Linux delay loops poll it), and bit 5, counter 2's OUT (Linux's PIT calibration
 * polls it). Bits 6-7 (IOCHK, PCHK) read 0.
 */
export class SystemControlPortB implements IoDevice, Snapshottable<PortBState> {
  readonly ports: readonly PortRange[] = [{ base: 0x61, count: 1 }];
  private value = 0;

  constructor(
    private readonly pit: Pit8254,
    private readonly onSpeaker?: (enabled: boolean) => void,
  ) {}

  read(port: number, size: AccessSize): number {
    return readBytes(this.ports, port, size, () => {
      const refresh = Math.floor(this.pit.cycle / 18) & 1;
      return (this.value & 0x0f) | (refresh << 4) | (this.pit.getOut(2) ? 0x20 : 0);
    });
  }

  write(port: number, size: AccessSize, value: number): void {
    writeBytes(this.ports, port, size, value, (_p, v) => {
      const old = this.value;
      this.value = v & 0x0f;
      this.pit.setGate(2, (v & 1) !== 0);
      if ((old ^ v) & 2) this.onSpeaker?.((v & 2) !== 0);
    });
  }

  save(): PortBState {
    return { value: this.value };
  }

  restore(state: PortBState): void {
    this.value = state.value;
  }
}
