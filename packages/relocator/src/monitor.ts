/**
 * Claim 12 (and 24): count the guest's accesses to displaced content per period and, while the
 * stub's region is hot, keep moving it to other random regions until one is quiet; then settle.
 *
 * The state machine, evaluated once per period ({@link AccessMonitor.endPeriod}):
 *
 * ```
 *             conflict move to a random region (claim 10)
 *  undisplaced ──────────────────────────────────────────▶ searching
 *      ▲   move to an unused region                          │  ▲
 *      └──────────────────────────────────────────────────── │  │ hot for `reawakenPeriods`
 *                                 quiet for `settlePeriods`  ▼  │ periods in a row
 *                                                          settled
 * ```
 *
 * In `searching`, a hot period asks for a move if the rate limiter allows it. Hysteresis, so
 * the stub never thrashes even when the guest chases it:
 *  - two thresholds with a gap: hot is `>= hotThreshold` accesses, quiet is `<= quietThreshold`;
 *    a "warm" period in between neither moves nor counts toward settling;
 *  - a minimum dwell in a region, doubled after every periodic move (exponential back-off,
 *    capped at `maxDwellPeriods`) and halved again each time a region turns out quiet;
 *  - at most `maxMovesPerWindow` periodic moves in any `windowPeriods` periods;
 *  - once settled, a region is left only after `reawakenPeriods` hot periods in a row.
 */

/** Tunables; every field has a default (see {@link DEFAULT_MONITOR_OPTIONS}). */
export interface AccessMonitorOptions {
  /** Displaced accesses in one period at or above which the region is hot. */
  hotThreshold: number;
  /** At or below this a period is quiet (must be below `hotThreshold`: the hysteresis gap). */
  quietThreshold: number;
  /** Quiet periods in a row after which the region is settled and the stub stops moving. */
  settlePeriods: number;
  /** Periods to stay in a region before a periodic move, before back-off. */
  minDwellPeriods: number;
  /** Cap of the backed-off dwell. */
  maxDwellPeriods: number;
  /** At most this many periodic moves... */
  maxMovesPerWindow: number;
  /** ...within any window of this many periods. */
  windowPeriods: number;
  /** Hot periods in a row that wake a settled region up again. */
  reawakenPeriods: number;
}

export const DEFAULT_MONITOR_OPTIONS: Readonly<AccessMonitorOptions> = Object.freeze({
  hotThreshold: 64,
  quietThreshold: 8,
  settlePeriods: 4,
  minDwellPeriods: 2,
  maxDwellPeriods: 64,
  maxMovesPerWindow: 8,
  windowPeriods: 64,
  reawakenPeriods: 8,
});

/** Where the monitor stands. */
export type MonitorPhase =
  /** The stub displaces nothing: no accesses to watch. */
  | "undisplaced"
  /** The stub displaces guest pages and has not yet found a quiet region. */
  | "searching"
  /** The region has been quiet for `settlePeriods` periods: the stub stays. */
  | "settled";

/** How a period was judged. */
export type PeriodHeat = "hot" | "warm" | "quiet";

/** What {@link AccessMonitor.endPeriod} decided. */
export interface PeriodVerdict {
  heat: PeriodHeat;
  /** The accesses counted in the period that just ended. */
  accesses: number;
  /** True: move the stub to another random region (claim 12). */
  move: boolean;
  /** Set when the region was hot but the hysteresis held the stub back. */
  heldBy?: "dwell" | "window" | "settled";
}

/** {@link AccessMonitor.save}. */
export interface AccessMonitorState {
  phase: MonitorPhase;
  period: number;
  accesses: number;
  totalAccesses: number;
  dwell: number;
  quietStreak: number;
  hotStreak: number;
  backoff: number;
  recentMoves: number[];
}

export class AccessMonitor {
  readonly options: Readonly<AccessMonitorOptions>;
  private phaseValue: MonitorPhase = "undisplaced";
  private periodValue = 0;
  private accesses = 0;
  private total = 0;
  private dwell = 0;
  private quietStreak = 0;
  private hotStreak = 0;
  private backoff = 0;
  /** Periods at which periodic moves happened, within the last window. */
  private recentMoves: number[] = [];

  constructor(options: Partial<AccessMonitorOptions> = {}) {
    const o = { ...DEFAULT_MONITOR_OPTIONS, ...options };
    if (!(o.quietThreshold < o.hotThreshold)) {
      throw new RangeError("AccessMonitor: quietThreshold must be below hotThreshold (the hysteresis gap)");
    }
    for (const [k, v] of Object.entries(o)) {
      if (!Number.isInteger(v) || v < 0)
        throw new RangeError(`AccessMonitor: ${k} must be a non-negative integer`);
    }
    if (o.settlePeriods < 1 || o.maxMovesPerWindow < 1 || o.windowPeriods < 1) {
      throw new RangeError("AccessMonitor: settlePeriods, maxMovesPerWindow and windowPeriods must be >= 1");
    }
    this.options = Object.freeze(o);
  }

  get phase(): MonitorPhase {
    return this.phaseValue;
  }

  /** Periods ended so far. */
  get period(): number {
    return this.periodValue;
  }

  /** Accesses counted in the current (unfinished) period. */
  get currentAccesses(): number {
    return this.accesses;
  }

  /** Accesses counted since creation. */
  get totalAccesses(): number {
    return this.total;
  }

  /** Periods ended since the stub last moved. */
  get periodsInRegion(): number {
    return this.dwell;
  }

  /** The dwell a periodic move currently needs, in periods. */
  get requiredDwell(): number {
    return Math.min(this.options.minDwellPeriods * 2 ** this.backoff, this.options.maxDwellPeriods);
  }

  /** Claim 11: the core served `count` guest accesses to displaced content. */
  record(count = 1): void {
    this.accesses += count;
    this.total += count;
  }

  /**
   * Ends the current period (the caller measures periods in guest instructions or core ticks).
   * `displaced` says whether the stub currently displaces guest pages.
   */
  endPeriod(displaced: boolean): PeriodVerdict {
    const o = this.options;
    const accesses = this.accesses;
    this.accesses = 0;
    this.periodValue++;
    this.dwell++;
    while (this.recentMoves.length > 0 && this.recentMoves[0] <= this.periodValue - o.windowPeriods) {
      this.recentMoves.shift();
    }
    const heat: PeriodHeat =
      accesses >= o.hotThreshold ? "hot" : accesses <= o.quietThreshold ? "quiet" : "warm";
    if (!displaced) {
      this.phaseValue = "undisplaced";
      this.quietStreak = 0;
      this.hotStreak = 0;
      return { heat, accesses, move: false };
    }
    if (this.phaseValue === "undisplaced") this.phaseValue = "searching";
    if (heat === "quiet") {
      this.hotStreak = 0;
      this.quietStreak++;
      if (this.phaseValue === "searching" && this.quietStreak >= o.settlePeriods) {
        this.phaseValue = "settled";
        this.backoff = Math.max(0, this.backoff - 1);
      }
      return { heat, accesses, move: false };
    }
    this.quietStreak = 0;
    if (heat === "warm") {
      this.hotStreak = 0;
      return { heat, accesses, move: false };
    }
    this.hotStreak++;
    if (this.phaseValue === "settled") {
      if (this.hotStreak < o.reawakenPeriods) return { heat, accesses, move: false, heldBy: "settled" };
      this.phaseValue = "searching";
    }
    if (this.dwell < this.requiredDwell) return { heat, accesses, move: false, heldBy: "dwell" };
    if (this.recentMoves.length >= o.maxMovesPerWindow)
      return { heat, accesses, move: false, heldBy: "window" };
    return { heat, accesses, move: true };
  }

  /**
   * The stub moved (for whatever reason). `displaced`: whether the new region displaces guest
   * pages; `periodic`: whether it was a claim-12 move, which counts against the rate limit
   * and backs off.
   */
  moved(displaced: boolean, periodic: boolean): void {
    this.dwell = 0;
    this.quietStreak = 0;
    this.hotStreak = 0;
    this.accesses = 0;
    this.phaseValue = displaced ? "searching" : "undisplaced";
    if (periodic) {
      this.recentMoves.push(this.periodValue);
      this.backoff = Math.min(this.backoff + 1, 30);
    }
  }

  save(): AccessMonitorState {
    return {
      phase: this.phaseValue,
      period: this.periodValue,
      accesses: this.accesses,
      totalAccesses: this.total,
      dwell: this.dwell,
      quietStreak: this.quietStreak,
      hotStreak: this.hotStreak,
      backoff: this.backoff,
      recentMoves: [...this.recentMoves],
    };
  }

  restore(s: AccessMonitorState): void {
    this.phaseValue = s.phase;
    this.periodValue = s.period;
    this.accesses = s.accesses;
    this.total = s.totalAccesses;
    this.dwell = s.dwell;
    this.quietStreak = s.quietStreak;
    this.hotStreak = s.hotStreak;
    this.backoff = s.backoff;
    this.recentMoves = [...s.recentMoves];
  }
}
