import type { Snapshottable } from "@pagurus/spec";
import { PAGE_SHIFT } from "@pagurus/spec";
import {
  AccessMonitor,
  type AccessMonitorOptions,
  type AccessMonitorState,
  type MonitorPhase,
  type PeriodHeat,
} from "./monitor.js";
import { accessConflict, chooseRegion, type Placement, type Region, type RegionChoice } from "./region.js";
import { SeededRandom, type SeededRandomState } from "./rng.js";
import { type GuestSpace, PAGE_COUNT, type PageRange } from "./space.js";

/** Why the stub moved. */
export type RelocationReason =
  /** Claim 9: the guest mapped (or touched) the stub's region; moved to a region it leaves unused. */
  | "conflict-unused"
  /** Claim 10: same, but no unused region existed; moved to a random region, displacing guest pages. */
  | "conflict-random"
  /** Claim 12: the displaced content was hot; moved to another random region. */
  | "periodic-hot"
  /** The stub displaced guest pages and an unused region has appeared (the guest unmapped something). */
  | "unused-available";

/** One relocation decision, as the core reads it for `--stats` (plain JSON-able data). */
export interface RelocationEvent {
  /** 0, 1, 2... in decision order. */
  seq: number;
  /** The period (of {@link Relocator.endPeriod}) during which it was decided. */
  period: number;
  reason: RelocationReason;
  /** Linear base of the stub before and after the move. */
  from: number;
  to: number;
  /** The stub's size in pages (a move remaps this many pages, whatever the code size). */
  pages: number;
  /** The stub pages the guest mapped or touched (linear addresses) that caused a conflict move. */
  conflictPages: number[];
  /** Claim 10: guest pages under the new region (linear addresses) the core serves from the VMM side. */
  displaced: number[];
  /** Displaced accesses counted in the period that triggered a periodic move, else 0. */
  accesses: number;
}

/** Counters for `--stats`. */
export interface RelocatorStats {
  base: number;
  pages: number;
  phase: MonitorPhase;
  period: number;
  relocations: number;
  byReason: Record<RelocationReason, number>;
  displacedPages: number;
  displacedAccesses: number;
}

export interface RelocatorOptions {
  /** The stub's size in pages. */
  stubPages: number;
  /** Where the stub is now (page-aligned linear address). */
  base: number;
  /** Seed of every random choice (`--seed N`). */
  seed: number;
  /**
   * Pages the stub must never occupy. Default: page 0 (guests trap null pointers there) and
   * the top page (so `base + size` never wraps past 4 GiB in a segment limit).
   */
  reserved?: readonly PageRange[];
  placement?: Placement;
  monitor?: Partial<AccessMonitorOptions>;
  /** How many recently hot regions to avoid when choosing a random one (claim 12). Default 8. */
  hotMemory?: number;
  /** Period length for {@link Relocator.tick}, in the caller's units (default 1,000,000 instructions). */
  periodLength?: number;
}

/** {@link Relocator.save}. */
export interface RelocatorState {
  base: number;
  displaced: number[];
  rng: SeededRandomState;
  monitor: AccessMonitorState;
  hotRegions: number[];
  events: RelocationEvent[];
  periodStart: number;
}

export const DEFAULT_RESERVED: readonly PageRange[] = Object.freeze([
  { first: 0, count: 1 },
  { first: PAGE_COUNT - 1, count: 1 },
]);

/**
 * The placement policy the core consults (claims 1, 9-12; 13, 21-24; 25; 28-30): it keeps where
 * the stub is and which guest pages it displaces, decides every move, and logs it as a
 * {@link RelocationEvent}. It never touches memory or a CPU: the core performs each move it
 * returns (remap the stub's frames at `to`, rewrite the descriptor bases, alias `displaced`)
 * before the guest runs again; the policy assumes it did.
 */
export class Relocator implements Snapshottable<RelocatorState> {
  readonly stubPages: number;
  readonly reserved: readonly PageRange[];
  readonly placement: Placement;
  readonly monitor: AccessMonitor;
  private readonly rng: SeededRandom;
  private readonly hotMemory: number;
  private baseValue: number;
  private displacedValue: number[] = [];
  private hotRegions: number[] = [];
  private log: RelocationEvent[] = [];
  private periodStart = -1;
  /** Length of a period for {@link tick}, in the caller's clock units. */
  readonly periodLength: number;

  constructor(options: RelocatorOptions) {
    this.stubPages = options.stubPages;
    this.baseValue = options.base >>> 0;
    this.reserved = options.reserved ?? DEFAULT_RESERVED;
    this.placement = options.placement ?? "random";
    this.rng = new SeededRandom(options.seed);
    this.monitor = new AccessMonitor(options.monitor);
    this.hotMemory = options.hotMemory ?? 8;
    this.periodLength = options.periodLength ?? 1_000_000;
    accessConflict(this.baseValue, this.stubPages, 0, 0); // validates base and size
  }

  /** The stub's current linear base. */
  get base(): number {
    return this.baseValue;
  }

  get region(): Region {
    return { base: this.baseValue, pages: this.stubPages };
  }

  /** Guest pages (linear addresses) the stub displaces now, whose content the core serves (claim 11). */
  get displaced(): readonly number[] {
    return this.displacedValue;
  }

  /** Every decision so far, oldest first. */
  get events(): readonly RelocationEvent[] {
    return this.log;
  }

  /**
   * Claims 1, 9, 10: after an event that may create a conflict (claim 5), checks whether the
   * guest now maps pages of the stub's region that it did not displace already, or whether
   * `access` (a guest access or table the core saw, e.g. an LGDT base and limit) touches the
   * region; if so, chooses a new region and returns the move. `null`: the stub stays.
   *
   * Pages already displaced are no conflict: the core serves them (claim 11). Displaced pages
   * the guest has unmapped are dropped from {@link displaced} (read it after every call).
   */
  resolveConflict(space: GuestSpace, access?: { linear: number; length: number }): RelocationEvent | null {
    const first = this.baseValue >>> PAGE_SHIFT;
    // Displaced pages the guest has unmapped since are no longer the core's to serve.
    if (this.displacedValue.length > 0) {
      this.displacedValue = this.displacedValue.filter((linear) => space.isMappedLinear(linear));
      if (this.displacedValue.length === 0) this.monitor.moved(false, false);
    }
    const known = new Set(this.displacedValue);
    const conflict = new Set<number>();
    if (space.countMapped(first, this.stubPages) > known.size) {
      for (const p of space.mappedIn(first, this.stubPages)) {
        const linear = (p << PAGE_SHIFT) >>> 0;
        if (!known.has(linear)) conflict.add(linear);
      }
    }
    if (access !== undefined) {
      for (const p of accessConflict(this.baseValue, this.stubPages, access.linear, access.length))
        conflict.add(p);
    }
    if (conflict.size === 0) return null;
    const choice = this.choose(space);
    return this.commit(
      choice.unused ? "conflict-unused" : "conflict-random",
      choice,
      [...conflict].sort(byNumber),
      0,
    );
  }

  /** Claim 11: the core served `count` guest accesses to displaced content. */
  recordDisplacedAccess(count = 1): void {
    this.monitor.record(count);
  }

  /**
   * Ends a period (claim 12). The caller decides how long a period is (guest instructions or
   * core ticks) and passes the guest's space as it is now. Returns the move, if any: to an
   * unused region if one has appeared while the stub displaces pages ("unused-available"), or
   * to another random region when the displaced content was hot ("periodic-hot").
   */
  endPeriod(space: GuestSpace): RelocationEvent | null {
    const displaced = this.displacedValue.length > 0;
    const verdict = this.monitor.endPeriod(displaced);
    if (!displaced) return null;
    // An unused region beats any displaced one. The base dwell still applies, so that a guest
    // that maps and unmaps in a loop cannot make the stub hop every period.
    if (this.monitor.periodsInRegion >= this.monitor.options.minDwellPeriods) {
      const unused = this.findUnused(space);
      if (unused !== null) return this.commit("unused-available", unused, [], verdict.accesses);
    }
    if (!verdict.move) return null;
    this.rememberHot(this.baseValue);
    const choice = this.choose(space);
    return this.commit(choice.unused ? "unused-available" : "periodic-hot", choice, [], verdict.accesses);
  }

  /**
   * Convenience for callers with a clock (guest instructions retired, core ticks): ends a
   * period each time `now` passes `periodLength` since the last one (at most one per call)
   * and returns {@link endPeriod}'s answer; `null` when no period ended.
   */
  tick(now: number, space: GuestSpace): RelocationEvent | null {
    if (this.periodStart < 0) this.periodStart = now;
    if (now - this.periodStart < this.periodLength) return null;
    this.periodStart = now;
    return this.endPeriod(space);
  }

  /** The policy's heat judgement of the last period, for tracing. */
  heatOf(accesses: number): PeriodHeat {
    const o = this.monitor.options;
    return accesses >= o.hotThreshold ? "hot" : accesses <= o.quietThreshold ? "quiet" : "warm";
  }

  stats(): RelocatorStats {
    const byReason: Record<RelocationReason, number> = {
      "conflict-unused": 0,
      "conflict-random": 0,
      "periodic-hot": 0,
      "unused-available": 0,
    };
    for (const e of this.log) byReason[e.reason]++;
    return {
      base: this.baseValue,
      pages: this.stubPages,
      phase: this.monitor.phase,
      period: this.monitor.period,
      relocations: this.log.length,
      byReason,
      displacedPages: this.displacedValue.length,
      displacedAccesses: this.monitor.totalAccesses,
    };
  }

  save(): RelocatorState {
    return {
      base: this.baseValue,
      displaced: [...this.displacedValue],
      rng: this.rng.save(),
      monitor: this.monitor.save(),
      hotRegions: [...this.hotRegions],
      periodStart: this.periodStart,
      events: this.log.map((e) => ({
        ...e,
        conflictPages: [...e.conflictPages],
        displaced: [...e.displaced],
      })),
    };
  }

  restore(s: RelocatorState): void {
    this.baseValue = s.base;
    this.displacedValue = [...s.displaced];
    this.rng.restore(s.rng);
    this.monitor.restore(s.monitor);
    this.hotRegions = [...s.hotRegions];
    this.periodStart = s.periodStart;
    this.log = s.events.map((e) => ({
      ...e,
      conflictPages: [...e.conflictPages],
      displaced: [...e.displaced],
    }));
  }

  private avoidList(): Region[] {
    return [this.region, ...this.hotRegions.map((base) => ({ base, pages: this.stubPages }))];
  }

  private choose(space: GuestSpace): RegionChoice {
    return chooseRegion(space, {
      pages: this.stubPages,
      rng: this.rng,
      reserved: this.reserved,
      avoid: this.avoidList(),
      placement: this.placement,
    });
  }

  /** An unused region clear of the current one, or null (consumes randomness only when found). */
  private findUnused(space: GuestSpace): RegionChoice | null {
    // O(1) for the common claim-10 case of a fully mapped space.
    if (PAGE_COUNT - space.mappedPages < this.stubPages) return null;
    let found = false;
    space.forEachFreeRun((_first, count) => {
      if (count >= this.stubPages) found = true;
    });
    if (!found) return null;
    const choice = this.choose(space);
    return choice.unused ? choice : null;
  }

  private rememberHot(base: number): void {
    this.hotRegions.unshift(base);
    if (this.hotRegions.length > this.hotMemory) this.hotRegions.length = this.hotMemory;
  }

  private commit(reason: RelocationReason, to: RegionChoice, conflictPages: number[], accesses: number) {
    const event: RelocationEvent = {
      seq: this.log.length,
      period: this.monitor.period,
      reason,
      from: this.baseValue,
      to: to.base,
      pages: this.stubPages,
      conflictPages,
      displaced: [...to.displaced],
      accesses,
    };
    this.log.push(event);
    this.baseValue = to.base;
    this.displacedValue = [...to.displaced];
    this.monitor.moved(to.displaced.length > 0, reason === "periodic-hot");
    return event;
  }
}

function byNumber(a: number, b: number): number {
  return a - b;
}
