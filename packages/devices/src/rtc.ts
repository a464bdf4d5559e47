import type { AccessSize, Clock, IrqLine, Snapshottable, Timer } from "@pagurus/spec";
import { RateConverter } from "./clock.js";
import type { IoDevice, PortRange } from "./ports.js";
import { readBytes, writeBytes } from "./ports.js";

/** The MC146818's time base: a 32.768 kHz crystal. */
export const RTC_FREQUENCY = 32_768;

// Register numbers (Motorola MC146818A datasheet, figure 4; century at 0x32 is the IBM AT convention).
const SECONDS = 0x00;
const SECONDS_ALARM = 0x01;
const MINUTES = 0x02;
const MINUTES_ALARM = 0x03;
const HOURS = 0x04;
const HOURS_ALARM = 0x05;
const DAY_OF_WEEK = 0x06;
const DAY_OF_MONTH = 0x07;
const MONTH = 0x08;
const YEAR = 0x09;
const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
const CENTURY = 0x32;

const A_UIP = 0x80;
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_DM_BINARY = 0x04;
const B_24H = 0x02;
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
const D_VRT = 0x80;

/** UIP is set for the last 244 us (8 cycles of 32.768 kHz) before each update, as QEMU's mc146818rtc.c models it. */
const UIP_CYCLES = 8;

export interface RtcOptions {
  clock: Clock;
  /** IRQ 8 on PCs. */
  irq: IrqLine;
  /**
   * Guest time at tick 0 of the clock, or `"host"` for the host's time when the device is built.
   * Either way it then advances with the virtual clock, so runs stay reproducible for a fixed
   * value. Default 2026-01-01T00:00:00Z.
   */
  startTime?: Date | number | "host";
  /** First of the two ports (default 0x70). */
  base?: number;
}

export interface RtcState {
  cmos: number[];
  index: number;
  nmiMasked: boolean;
  /** Guest time in 32.768 kHz cycles since the Unix epoch, at clock cycle `origin` (or frozen). */
  t0: number;
  origin: number;
  running: boolean;
  /** Clock cycle (32.768 kHz) of the last periodic-flag check. */
  pfChecked: number;
  /** Guest second of the last update cycle whose flags (UF, AF) are accounted for. */
  lastUpdateSec: number;
}

/**
 * Motorola MC146818A real-time clock and CMOS RAM: index port with the AT's NMI-mask bit 7,
 * 128 bytes of RAM of which 0-9 are the clock, A-D its control registers. Time registers are
 * computed from the guest time on each read (BCD or binary, 12 or 24 hour, per register B);
 * time advances with the virtual clock. The update cycle runs once a guest second (update-ended
 * and alarm flags), the periodic flag at the rate selected in register A, and IRQF drives the
 * interrupt line until register C is read.
 */
export class Rtc implements IoDevice, Snapshottable<RtcState> {
  readonly ports: readonly PortRange[];
  private readonly base: number;
  private readonly clock: Clock;
  private readonly irq: IrqLine;
  private readonly conv: RateConverter;
  private cmos: number[] = new Array(128).fill(0);
  private index = 0;
  private _nmiMasked = false;
  private t0 = 0;
  private origin = 0;
  private running = true;
  private pfChecked = 0;
  private lastUpdateSec = 0;
  private updateTimer: Timer | null = null;
  private periodicTimer: Timer | null = null;

  constructor(options: RtcOptions) {
    this.clock = options.clock;
    this.irq = options.irq;
    this.base = options.base ?? 0x70;
    this.ports = [{ base: this.base, count: 2 }];
    this.conv = new RateConverter(this.clock.frequency, RTC_FREQUENCY);
    const start = options.startTime ?? Date.UTC(2026, 0, 1);
    const ms = start === "host" ? Date.now() : start instanceof Date ? start.getTime() : start;
    const cyc = this.cycle;
    this.origin = cyc;
    this.t0 = Math.floor(ms / 1000) * RTC_FREQUENCY;
    this.pfChecked = cyc;
    this.lastUpdateSec = Math.floor(this.t0 / RTC_FREQUENCY);
    // Power-on values QEMU uses: 32.768 kHz time base with a 1024 Hz rate, 24-hour BCD, VRT set.
    this.cmos[REG_A] = 0x26;
    this.cmos[REG_B] = B_24H;
    this.cmos[REG_C] = 0;
    this.cmos[REG_D] = D_VRT;
    this.reschedule();
  }

  /** Bit 7 of the last index write: NMI disabled (the board's NMI logic reads it). */
  get nmiMasked(): boolean {
    return this._nmiMasked;
  }

  /** Guest time now, as a Date (UTC). */
  get time(): Date {
    return new Date(Math.floor(this.guestCycles() / RTC_FREQUENCY) * 1000);
  }

  read(port: number, size: AccessSize): number {
    return readBytes(this.ports, port, size, (p) => (p === this.base ? 0xff : this.readRegister(this.index)));
  }

  write(port: number, size: AccessSize, value: number): void {
    writeBytes(this.ports, port, size, value, (p, v) => {
      if (p === this.base) {
        this.index = v & 0x7f;
        this._nmiMasked = (v & 0x80) !== 0;
      } else {
        this.writeRegister(this.index, v);
      }
    });
  }

  /** Raw CMOS RAM access for the board (no side effects; clock registers are not recomputed). */
  readCmos(index: number): number {
    return this.cmos[index & 0x7f];
  }

  writeCmos(index: number, value: number): void {
    this.cmos[index & 0x7f] = value & 0xff;
  }

  /**
   * Fills in the memory-size bytes a BIOS leaves for the OS, as QEMU's pc.c does: base memory in
   * KiB (0x15-0x16, always 640), memory above 1 MiB in KiB capped at 65535 (0x17-0x18 and again
   * at 0x30-0x31), memory above 16 MiB in 64 KiB units capped at 65535 (0x34-0x35).
   */
  setMemorySize(bytes: number): void {
    const base = 640;
    const ext = Math.min(0xffff, Math.max(0, Math.floor(bytes / 1024) - 1024));
    const above16 = Math.min(0xffff, Math.max(0, Math.floor(bytes / 65536) - 256));
    const put16 = (i: number, v: number) => {
      this.cmos[i] = v & 0xff;
      this.cmos[i + 1] = (v >> 8) & 0xff;
    };
    put16(0x15, base);
    put16(0x17, ext);
    put16(0x30, ext);
    put16(0x34, above16);
  }

  save(): RtcState {
    return {
      cmos: [...this.cmos],
      index: this.index,
      nmiMasked: this._nmiMasked,
      t0: this.t0,
      origin: this.origin,
      running: this.running,
      pfChecked: this.pfChecked,
      lastUpdateSec: this.lastUpdateSec,
    };
  }

  restore(s: RtcState): void {
    this.cmos = [...s.cmos];
    this.index = s.index;
    this._nmiMasked = s.nmiMasked;
    this.t0 = s.t0;
    this.origin = s.origin;
    this.running = s.running;
    this.pfChecked = s.pfChecked;
    this.lastUpdateSec = s.lastUpdateSec;
    this.irq.set((this.cmos[REG_C] & C_IRQF) !== 0);
    this.reschedule();
  }

  private get cycle(): number {
    return this.conv.cycles(this.clock.now);
  }

  private guestCycles(): number {
    return this.running ? this.t0 + (this.cycle - this.origin) : this.t0;
  }

  /** Divider chain running: DV2-0 select a time base (000, 001, 010), not reset (11x) or test. */
  private get dividerRunning(): boolean {
    return (this.cmos[REG_A] & 0x70) <= 0x20;
  }

  private readRegister(index: number): number {
    switch (index) {
      case SECONDS:
      case MINUTES:
      case HOURS:
      case DAY_OF_WEEK:
      case DAY_OF_MONTH:
      case MONTH:
      case YEAR:
      case CENTURY:
        return this.timeRegister(index);
      case REG_A: {
        const g = this.guestCycles();
        const uip = this.running && g % RTC_FREQUENCY >= RTC_FREQUENCY - UIP_CYCLES;
        return (this.cmos[REG_A] & 0x7f) | (uip ? A_UIP : 0);
      }
      case REG_C: {
        this.checkPeriodicFlag();
        this.checkUpdateFlags();
        const v = this.cmos[REG_C];
        // Reading C clears every flag and releases the IRQ line (datasheet, register C).
        this.cmos[REG_C] = 0;
        if (v & C_IRQF) this.irq.set(false);
        return v;
      }
      case REG_D:
        return D_VRT;
      default:
        return this.cmos[index];
    }
  }

  private writeRegister(index: number, value: number): void {
    switch (index) {
      case SECONDS:
      case MINUTES:
      case HOURS:
      case DAY_OF_MONTH:
      case MONTH:
      case YEAR:
      case CENTURY:
        this.setTimeField(index, value);
        break;
      case DAY_OF_WEEK:
        // The day of the week is derived from the date here; a written value is not kept.
        break;
      case REG_A: {
        this.checkUpdateFlags();
        const wasRunning = this.dividerRunning;
        const oldRate = this.cmos[REG_A] & 0x0f;
        this.cmos[REG_A] = value & 0x7f; // UIP is read-only
        if (oldRate !== (value & 0x0f)) this.pfChecked = this.cycle;
        if (wasRunning !== this.dividerRunning) this.setRunning(this.computeRunning(), !wasRunning);
        this.reschedule();
        break;
      }
      case REG_B: {
        // Setting SET aborts updates and clears UIE (MC146818A, register B bit 7).
        if (value & B_SET) value &= ~B_UIE;
        this.checkUpdateFlags();
        this.cmos[REG_B] = value;
        this.setRunning(this.computeRunning(), false);
        // A flag already set raises IRQF the moment its enable is set; the flags are kept lazily, so
        // bring them up to date first.
        this.checkPeriodicFlag();
        this.checkUpdateFlags();
        this.updateIrqf();
        this.reschedule();
        break;
      }
      case REG_C:
      case REG_D:
        break; // read-only
      default:
        this.cmos[index] = value;
    }
  }

  private computeRunning(): boolean {
    return (this.cmos[REG_B] & B_SET) === 0 && this.dividerRunning;
  }

  /** Freezes or resumes guest time; leaving divider reset puts the first update 500 ms away (datasheet). */
  private setRunning(running: boolean, fromDividerReset: boolean): void {
    if (running === this.running) return;
    this.checkUpdateFlags();
    if (running) {
      if (fromDividerReset) this.t0 = Math.floor(this.t0 / RTC_FREQUENCY) * RTC_FREQUENCY + RTC_FREQUENCY / 2;
      this.origin = this.cycle;
    } else {
      this.t0 = this.guestCycles();
    }
    this.running = running;
  }

  private get binary(): boolean {
    return (this.cmos[REG_B] & B_DM_BINARY) !== 0;
  }

  private encode(v: number): number {
    return this.binary ? v : ((Math.floor(v / 10) % 10) << 4) | (v % 10);
  }

  private decode(v: number): number {
    return this.binary ? v : ((v >> 4) & 0x0f) * 10 + (v & 0x0f);
  }

  private encodeHours(h: number): number {
    if (this.cmos[REG_B] & B_24H) return this.encode(h);
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.encode(h12) | (h >= 12 ? 0x80 : 0);
  }

  private decodeHours(v: number): number {
    if (this.cmos[REG_B] & B_24H) return this.decode(v);
    const h12 = this.decode(v & 0x7f) % 12;
    return v & 0x80 ? h12 + 12 : h12;
  }

  private timeRegister(index: number): number {
    const d = new Date(Math.floor(this.guestCycles() / RTC_FREQUENCY) * 1000);
    switch (index) {
      case SECONDS:
        return this.encode(d.getUTCSeconds());
      case MINUTES:
        return this.encode(d.getUTCMinutes());
      case HOURS:
        return this.encodeHours(d.getUTCHours());
      case DAY_OF_WEEK:
        return this.encode(d.getUTCDay() + 1); // 1 = Sunday
      case DAY_OF_MONTH:
        return this.encode(d.getUTCDate());
      case MONTH:
        return this.encode(d.getUTCMonth() + 1);
      case YEAR:
        return this.encode(d.getUTCFullYear() % 100);
      default:
        return this.encode(Math.floor(d.getUTCFullYear() / 100));
    }
  }

  private setTimeField(index: number, value: number): void {
    this.checkUpdateFlags();
    const g = this.guestCycles();
    const fraction = g % RTC_FREQUENCY;
    const d = new Date(Math.floor(g / RTC_FREQUENCY) * 1000);
    let [year, month, day, h, m, s] = [
      d.getUTCFullYear(),
      d.getUTCMonth(),
      d.getUTCDate(),
      d.getUTCHours(),
      d.getUTCMinutes(),
      d.getUTCSeconds(),
    ];
    switch (index) {
      case SECONDS:
        s = this.decode(value);
        break;
      case MINUTES:
        m = this.decode(value);
        break;
      case HOURS:
        h = this.decodeHours(value);
        break;
      case DAY_OF_MONTH:
        day = this.decode(value);
        break;
      case MONTH:
        month = this.decode(value) - 1;
        break;
      case YEAR:
        year = Math.floor(year / 100) * 100 + this.decode(value);
        break;
      default:
        year = this.decode(value) * 100 + (year % 100);
    }
    const seconds = Math.floor(Date.UTC(year, month, day, h, m, s) / 1000);
    this.t0 = seconds * RTC_FREQUENCY + fraction;
    if (this.running) this.origin = this.cycle;
    // Setting the time is not an update cycle: no UF or AF for the seconds skipped.
    this.lastUpdateSec = seconds;
    this.reschedule();
  }

  /** Lazily sets PF if a periodic tick has passed since the last check (no timer runs while PIE is clear). */
  private checkPeriodicFlag(): void {
    const period = this.periodCycles();
    const cyc = this.cycle;
    if (
      period !== 0 &&
      this.dividerRunning &&
      Math.floor(cyc / period) > Math.floor(this.pfChecked / period)
    ) {
      this.cmos[REG_C] |= C_PF;
    }
    this.pfChecked = cyc;
  }

  /** Periodic interrupt period in 32.768 kHz cycles from RS3-0 (datasheet table 5); 0 = off. */
  private periodCycles(): number {
    let rs = this.cmos[REG_A] & 0x0f;
    if (rs === 0) return 0;
    if (rs <= 2) rs += 7; // 256 Hz and 128 Hz on a 32.768 kHz time base
    return 1 << (rs - 1);
  }

  /** IRQF = PF.PIE + AF.AIE + UF.UIE; the line follows IRQF. */
  private updateIrqf(): void {
    const c = this.cmos[REG_C];
    const b = this.cmos[REG_B];
    const irqf = (c & C_PF && b & B_PIE) || (c & C_AF && b & B_AIE) || (c & C_UF && b & B_UIE);
    if (irqf && !(c & C_IRQF)) {
      this.cmos[REG_C] |= C_IRQF;
      this.irq.set(true);
    }
  }

  private reschedule(): void {
    this.updateTimer?.cancel();
    this.updateTimer = null;
    this.periodicTimer?.cancel();
    this.periodicTimer = null;
    // Update-ended and alarm flags are computed lazily; a timer runs only when they can interrupt,
    // so an idle machine has no pending deadline.
    if (this.running && this.cmos[REG_B] & (B_UIE | B_AIE)) {
      const g = this.guestCycles();
      const next = (Math.floor(g / RTC_FREQUENCY) + 1) * RTC_FREQUENCY;
      this.scheduleUpdate(this.origin + (next - this.t0));
    }
    const period = this.periodCycles();
    if (period !== 0 && this.dividerRunning && this.cmos[REG_B] & B_PIE) {
      this.schedulePeriodic((Math.floor(this.cycle / period) + 1) * period, period);
    }
  }

  private scheduleUpdate(cycle: number): void {
    this.updateTimer = this.clock.schedule(this.conv.tickOf(cycle), () => {
      this.checkUpdateFlags();
      this.updateIrqf();
      this.scheduleUpdate(cycle + RTC_FREQUENCY);
    });
  }

  /**
   * Applies the update cycles that ended since the last check: UF for any, AF when one of them
   * matched the alarm (seconds, minutes, hours; 0xC0-0xFF is "don't care").
   */
  private checkUpdateFlags(): void {
    if (!this.running) return;
    const sec = Math.floor(this.guestCycles() / RTC_FREQUENCY);
    if (sec <= this.lastUpdateSec) return;
    let flags = C_UF;
    // Every alarm pattern that can match does so within a day: look at most one day back.
    for (let t = Math.max(this.lastUpdateSec + 1, sec - 86399); t <= sec; t++) {
      if (this.alarmAt(t)) {
        flags |= C_AF;
        break;
      }
    }
    this.cmos[REG_C] |= flags;
    this.lastUpdateSec = sec;
  }

  private alarmAt(second: number): boolean {
    const sod = ((second % 86400) + 86400) % 86400; // guest time is UTC: no DST jumps
    return (
      alarmMatches(this.cmos[SECONDS_ALARM], this.encode(sod % 60)) &&
      alarmMatches(this.cmos[MINUTES_ALARM], this.encode(Math.floor(sod / 60) % 60)) &&
      alarmMatches(this.cmos[HOURS_ALARM], this.encodeHours(Math.floor(sod / 3600)))
    );
  }

  private schedulePeriodic(cycle: number, period: number): void {
    this.periodicTimer = this.clock.schedule(this.conv.tickOf(cycle), () => {
      this.cmos[REG_C] |= C_PF;
      this.pfChecked = cycle;
      this.updateIrqf();
      this.schedulePeriodic(cycle + period, period);
    });
  }
}

function alarmMatches(alarm: number, now: number): boolean {
  return (alarm & 0xc0) === 0xc0 || alarm === now;
}
