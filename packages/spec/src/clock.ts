/** A scheduled callback that can still be cancelled. */
export interface Timer {
  cancel(): void;
}

/**
 * Virtual time. `now` counts ticks (the machine counts one tick per executed instruction, so
 * runs are reproducible); `frequency` says how many ticks make one second of guest time.
 * Devices convert their own rates (the PIT's 1.193182 MHz, the RTC's 32.768 kHz) through it.
 */
export interface Clock {
  readonly now: number;
  readonly frequency: number;
  /** Calls `fn` once when `now` reaches `at` (an absolute tick); `fn` may schedule again. */
  schedule(at: number, fn: () => void): Timer;
}

/** The board's side of a clock: it advances time and asks how far the CPU may run. */
export interface Scheduler extends Clock {
  /** The tick of the earliest pending timer, or `Infinity`. */
  readonly nextDeadline: number;
  /** Moves time forward by `ticks`, firing due timers in order. */
  advance(ticks: number): void;
}
