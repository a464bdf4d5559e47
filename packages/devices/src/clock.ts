import type { Clock, Scheduler, Timer } from "@pagurus/spec";

/** Options of {@link VirtualClock}. */
export interface VirtualClockOptions {
  /** Ticks per second of guest time (default 100_000_000: one instruction = 10 ns, a 100 MIPS machine). */
  frequency?: number;
  /** Initial value of `now` (default 0). */
  now?: number;
}

/** What {@link VirtualClock.save} returns. Timers are not part of it: their owners re-create them. */
export interface VirtualClockState {
  now: number;
  frequency: number;
}

interface Entry {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

/**
 * An instruction-count driven {@link Scheduler}: `now` only moves when the board calls
 * `advance`, so a run is reproducible tick for tick. Pending timers sit in a binary min-heap
 * ordered by deadline, then by scheduling order (timers due at the same tick fire in the
 * order they were scheduled, which keeps runs deterministic).
 */
export class VirtualClock implements Scheduler {
  private _now: number;
  readonly frequency: number;
  private readonly heap: Entry[] = [];
  private seq = 0;

  constructor(options: VirtualClockOptions = {}) {
    this.frequency = options.frequency ?? 100_000_000;
    this._now = options.now ?? 0;
    if (!(this.frequency > 0))
      throw new RangeError(`VirtualClock: frequency must be > 0, got ${this.frequency}`);
  }

  get now(): number {
    return this._now;
  }

  /** The deadline of the earliest pending timer, or `Infinity`. Cancelled timers are skipped. */
  get nextDeadline(): number {
    this.dropCancelled();
    return this.heap.length > 0 ? this.heap[0].at : Number.POSITIVE_INFINITY;
  }

  /** Number of pending (not cancelled) timers; for tests and statistics. */
  get pendingTimers(): number {
    let n = 0;
    for (const e of this.heap) if (e.fn !== null) n++;
    return n;
  }

  schedule(at: number, fn: () => void): Timer {
    const entry: Entry = { at, seq: this.seq++, fn };
    this.push(entry);
    return {
      cancel: () => {
        entry.fn = null;
      },
    };
  }

  /**
   * Moves `now` forward by `ticks`. Each due timer runs with `now` set to its own deadline (a
   * timer is never observed late), and a timer scheduled by a callback at or before the target
   * tick fires within the same call. `advance(0)` fires timers already due.
   */
  advance(ticks: number): void {
    if (!(ticks >= 0)) throw new RangeError(`VirtualClock.advance: ticks must be >= 0, got ${ticks}`);
    const target = this._now + ticks;
    for (;;) {
      this.dropCancelled();
      if (this.heap.length === 0) break;
      const top = this.heap[0];
      if (top.at > target) break;
      this.pop();
      if (top.at > this._now) this._now = top.at;
      const fn = top.fn!;
      top.fn = null;
      fn();
    }
    this._now = target;
  }

  /** Advances to the absolute tick `at` (no-op if it is in the past). */
  advanceTo(at: number): void {
    if (at > this._now) this.advance(at - this._now);
    else this.advance(0);
  }

  save(): VirtualClockState {
    return { now: this._now, frequency: this.frequency };
  }

  /**
   * Restores `now` and drops every pending timer: restore the clock first, then the devices,
   * which re-create their timers from their own state.
   */
  restore(state: VirtualClockState): void {
    if (state.frequency !== this.frequency) {
      throw new RangeError(`VirtualClock.restore: frequency ${state.frequency} != ${this.frequency}`);
    }
    for (const e of this.heap) e.fn = null;
    this.heap.length = 0;
    this._now = state.now;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0].fn === null) this.pop();
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

/**
 * Converts between a {@link Clock}'s ticks and a device's own oscillator (the PIT's
 * 1.193182 MHz, the RTC's 32.768 kHz) on an absolute grid: `cycles(now)` is how many whole
 * oscillator cycles have elapsed since tick 0, and `tickOf(n)` is the first tick at which cycle
 * `n` has elapsed. Integer arithmetic split so products stay below 2^53.
 */
export class RateConverter {
  constructor(
    readonly clockFrequency: number,
    readonly deviceFrequency: number,
  ) {}

  cycles(now: number): number {
    const f = this.clockFrequency;
    const q = Math.floor(now / f);
    const r = now - q * f;
    return q * this.deviceFrequency + Math.floor((r * this.deviceFrequency) / f);
  }

  tickOf(cycle: number): number {
    const d = this.deviceFrequency;
    const q = Math.floor(cycle / d);
    const r = cycle - q * d;
    return q * this.clockFrequency + Math.ceil((r * this.clockFrequency) / d);
  }
}

/**
 * Optional wall-clock pacing for interactive use: compares guest time (`clock.now` over
 * `clock.frequency`) with a host time source in milliseconds, so a board can sleep when the
 * guest runs ahead and, when the guest is halted, skip ahead only as far as real time allows.
 * Runs paced this way are no longer reproducible; the clock itself stays instruction-driven.
 */
export class WallClockPacer {
  private hostStart: number;
  private tickStart: number;

  constructor(
    private readonly clock: Clock,
    /** Host time in milliseconds, e.g. `() => performance.now()`. */
    private readonly hostMs: () => number,
  ) {
    this.hostStart = hostMs();
    this.tickStart = clock.now;
  }

  /** Milliseconds the guest is ahead of the host (how long to sleep), or 0 when it is behind. */
  get aheadMs(): number {
    const guestMs = ((this.clock.now - this.tickStart) * 1000) / this.clock.frequency;
    return Math.max(0, guestMs - (this.hostMs() - this.hostStart));
  }

  /** The tick guest time should have reached by now in real time (a halted guest may jump there). */
  get hostTick(): number {
    return this.tickStart + Math.floor(((this.hostMs() - this.hostStart) * this.clock.frequency) / 1000);
  }

  /** Forgets the past (after a pause, or when the guest fell far behind and should not catch up). */
  resync(): void {
    this.hostStart = this.hostMs();
    this.tickStart = this.clock.now;
  }
}
