import { describe, expect, it } from "vitest";
import {
  AccessMonitor,
  GuestSpace,
  PAGE_COUNT,
  type RelocationEvent,
  Relocator,
  SeededRandom,
} from "../src/index.js";

const STUB = 5;
const full = () => GuestSpace.fromRanges([{ first: 0, count: PAGE_COUNT }]);

/** The guest touches displaced content only on "hot" pages: these 4 MiB chunks, 100 accesses each. */
function hotChunks(seed: number, fraction: number): Uint8Array {
  const rng = new SeededRandom(seed);
  const chunks = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) chunks[i] = rng.below(1000) < fraction * 1000 ? 1 : 0;
  return chunks;
}

function accessesFor(r: Relocator, chunks: Uint8Array): number {
  let n = 0;
  for (const page of r.displaced) if (chunks[page >>> 22] === 1) n += 100;
  return n;
}

describe("Relocator: conflicts (claims 1, 9, 10)", () => {
  it("stays put without a conflict, moves to an unused region on one", () => {
    const r = new Relocator({ stubPages: STUB, base: 0xffc00000, seed: 1 });
    const space = GuestSpace.fromRanges([{ first: 0, count: 0x1000 }]);
    expect(r.resolveConflict(space)).toBeNull();
    space.map(0xffc01);
    const e = r.resolveConflict(space)!;
    expect(e.reason).toBe("conflict-unused");
    expect(e.from).toBe(0xffc00000);
    expect(e.conflictPages).toEqual([0xffc01000]);
    expect(e.displaced).toEqual([]);
    expect(r.base).toBe(e.to);
    expect(space.countMapped(e.to / 4096, STUB)).toBe(0);
    expect(r.resolveConflict(space)).toBeNull();
  });

  it("an access (e.g. LIDT into the stub's range) is a conflict too", () => {
    const r = new Relocator({ stubPages: STUB, base: 0x00800000, seed: 1 });
    const e = r.resolveConflict(new GuestSpace(), { linear: 0x00801ff8, length: 16 })!;
    expect(e.conflictPages).toEqual([0x00801000, 0x00802000]);
    expect(e.reason).toBe("conflict-unused");
  });

  it("claim 10: with the whole space mapped, moves to a random region and lists displaced pages", () => {
    const r = new Relocator({ stubPages: STUB, base: 0x00800000, seed: 9 });
    const e = r.resolveConflict(full())!;
    expect(e.reason).toBe("conflict-random");
    expect(e.displaced).toHaveLength(STUB);
    expect(r.displaced).toEqual(e.displaced);
    // Already displaced pages are no new conflict.
    expect(r.resolveConflict(full())).toBeNull();
    expect(r.stats().byReason["conflict-random"]).toBe(1);
  });

  it("drops displaced pages the guest unmaps", () => {
    const r = new Relocator({ stubPages: STUB, base: 0x00800000, seed: 9 });
    const space = full();
    const e = r.resolveConflict(space)!;
    space.unmap(e.to / 4096 + 1, 2);
    expect(r.resolveConflict(space)).toBeNull();
    expect(r.displaced).toEqual([e.to, e.to + 0x3000, e.to + 0x4000]);
    space.unmap(e.to / 4096, STUB);
    expect(r.resolveConflict(space)).toBeNull();
    expect(r.displaced).toEqual([]);
    expect(r.monitor.phase).toBe("undisplaced");
  });

  it("moves back to an unused region once one appears (unused-available)", () => {
    const r = new Relocator({ stubPages: STUB, base: 0x00800000, seed: 9 });
    const space = full();
    r.resolveConflict(space);
    r.endPeriod(space);
    space.unmap(0x30000, 64);
    let e: RelocationEvent | null = null;
    for (let i = 0; i < 4 && e === null; i++) e = r.endPeriod(space);
    expect(e?.reason).toBe("unused-available");
    expect(e!.to / 4096).toBeGreaterThanOrEqual(0x30000);
    expect(e!.to / 4096 + STUB).toBeLessThanOrEqual(0x30000 + 64);
    expect(r.displaced).toEqual([]);
    expect(r.monitor.phase).toBe("undisplaced");
  });
});

describe("Relocator: claim 12, periodic moves until quiet", () => {
  it("converges to a quiet region and then stops moving (many seeds)", () => {
    for (let seed = 0; seed < 40; seed++) {
      const chunks = hotChunks(seed, 0.5);
      const space = full();
      const r = new Relocator({ stubPages: STUB, base: 0x00800000, seed });
      r.resolveConflict(space);
      let settledAt = -1;
      for (let period = 0; period < 400; period++) {
        r.recordDisplacedAccess(accessesFor(r, chunks));
        r.endPeriod(space);
        if (r.monitor.phase === "settled" && settledAt < 0) settledAt = period;
      }
      expect(settledAt, `seed ${seed}`).toBeGreaterThanOrEqual(0);
      // Settled in a region the guest does not touch, and no move after settling.
      expect(accessesFor(r, chunks)).toBe(0);
      expect(r.events.filter((e) => e.period > settledAt + 1)).toEqual([]);
      expect(r.events.every((e) => e.reason !== "periodic-hot" || e.accesses >= 64)).toBe(true);
    }
  });

  it("never thrashes when the guest chases the stub wherever it goes (bounded, backed-off moves)", () => {
    for (let seed = 0; seed < 8; seed++) {
      const space = full();
      const r = new Relocator({ stubPages: STUB, base: 0x00800000, seed });
      r.resolveConflict(space);
      const PERIODS = 2000;
      for (let period = 0; period < PERIODS; period++) {
        r.recordDisplacedAccess(1000); // adversary: always hot, wherever the stub is
        r.endPeriod(space);
      }
      const moves = r.events.filter((e) => e.reason === "periodic-hot");
      // Dwell doubles 2, 4, ..., 64 periods: after the first few moves, at most one per 64 periods.
      expect(moves.length).toBeLessThanOrEqual(6 + PERIODS / 64);
      expect(moves.length).toBeGreaterThan(10);
      // Never two moves closer than the minimum dwell, and the gaps grow.
      const gaps = moves.slice(1).map((e, i) => e.period - moves[i].period);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2);
      expect(gaps.slice(-5).every((g) => g >= 64)).toBe(true);
    }
  });

  it("does not move on warm periods (the hysteresis gap) nor before the dwell", () => {
    const space = full();
    const r = new Relocator({ stubPages: STUB, base: 0x00800000, seed: 3 });
    r.resolveConflict(space);
    for (let i = 0; i < 50; i++) {
      r.recordDisplacedAccess(30); // between quiet (8) and hot (64)
      expect(r.endPeriod(space)).toBeNull();
    }
    expect(r.monitor.phase).toBe("searching");
    r.recordDisplacedAccess(100);
    expect(r.endPeriod(space)?.reason).toBe("periodic-hot");
    r.recordDisplacedAccess(100);
    expect(r.endPeriod(space)).toBeNull(); // dwell 1 < 4 (backed off once)
  });

  it("a settled region wakes up only after a run of hot periods", () => {
    const m = new AccessMonitor({ reawakenPeriods: 3, settlePeriods: 2 });
    m.moved(true, false);
    m.endPeriod(true);
    m.endPeriod(true);
    expect(m.phase).toBe("settled");
    m.record(500);
    expect(m.endPeriod(true)).toMatchObject({ heat: "hot", move: false, heldBy: "settled" });
    m.record(500);
    expect(m.endPeriod(true).move).toBe(false);
    m.record(500);
    expect(m.endPeriod(true).move).toBe(true);
    expect(m.phase).toBe("searching");
  });

  it("tick() ends a period every periodLength clock units", () => {
    const space = full();
    const r = new Relocator({ stubPages: STUB, base: 0x00800000, seed: 3, periodLength: 1000 });
    r.resolveConflict(space);
    r.tick(0, space);
    r.tick(999, space);
    expect(r.monitor.period).toBe(0);
    r.tick(1000, space);
    r.tick(1500, space);
    r.tick(2100, space);
    expect(r.monitor.period).toBe(2);
  });

  it("rejects thresholds without a gap", () => {
    expect(() => new AccessMonitor({ hotThreshold: 8, quietThreshold: 8 })).toThrow(RangeError);
  });
});

describe("Relocator: determinism and snapshots", () => {
  function run(seed: number, r = new Relocator({ stubPages: STUB, base: 0x00800000, seed }), from = 0) {
    const chunks = hotChunks(seed + 1000, 0.7);
    const space = full();
    if (from === 0) r.resolveConflict(space);
    for (let p = from; p < 300; p++) {
      r.recordDisplacedAccess(accessesFor(r, chunks));
      r.endPeriod(space);
    }
    return r;
  }

  it("same seed, same decisions; different seed, different decisions", () => {
    expect(run(5).events).toEqual(run(5).events);
    expect(run(5).events).not.toEqual(run(6).events);
  });

  it("save/restore through JSON continues identically", () => {
    const seed = 8;
    const chunks = hotChunks(seed + 1000, 0.7);
    const space = full();
    const a = new Relocator({ stubPages: STUB, base: 0x00800000, seed });
    a.resolveConflict(space);
    for (let p = 0; p < 40; p++) {
      a.recordDisplacedAccess(accessesFor(a, chunks));
      a.endPeriod(space);
    }
    const b = new Relocator({ stubPages: STUB, base: 0x00800000, seed: 12345 });
    b.restore(JSON.parse(JSON.stringify(a.save())));
    run(seed, a, 40);
    run(seed, b, 40);
    expect(b.events).toEqual(a.events);
    expect(b.stats()).toEqual(a.stats());
  });
});
