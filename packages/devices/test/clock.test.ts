import { describe, expect, it } from "vitest";
import { RateConverter, VirtualClock, WallClockPacer } from "../src/index.js";

describe("VirtualClock", () => {
  it("fires due timers in deadline order with now set to each deadline", () => {
    const clock = new VirtualClock();
    const seen: [string, number][] = [];
    clock.schedule(30, () => seen.push(["c", clock.now]));
    clock.schedule(10, () => seen.push(["a", clock.now]));
    clock.schedule(20, () => seen.push(["b", clock.now]));
    clock.schedule(31, () => seen.push(["late", clock.now]));
    clock.advance(30);
    expect(seen).toEqual([
      ["a", 10],
      ["b", 20],
      ["c", 30],
    ]);
    expect(clock.now).toBe(30);
    expect(clock.nextDeadline).toBe(31);
  });

  it("orders timers due at the same tick by scheduling order", () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) clock.schedule(5, () => seen.push(i));
    clock.advance(5);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("fires a timer scheduled by a callback at the current tick within the same advance", () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    clock.schedule(10, () => {
      seen.push("first");
      clock.schedule(clock.now, () => seen.push(`same tick ${clock.now}`));
      clock.schedule(clock.now + 5, () => seen.push(`later ${clock.now}`));
      clock.schedule(clock.now + 100, () => seen.push("too late"));
    });
    clock.advance(15);
    expect(seen).toEqual(["first", "same tick 10", "later 15"]);
    expect(clock.pendingTimers).toBe(1);
  });

  it("skips cancelled timers and reports Infinity when idle", () => {
    const clock = new VirtualClock();
    expect(clock.nextDeadline).toBe(Number.POSITIVE_INFINITY);
    let fired = false;
    const t = clock.schedule(7, () => {
      fired = true;
    });
    clock.schedule(9, () => {});
    expect(clock.nextDeadline).toBe(7);
    t.cancel();
    expect(clock.nextDeadline).toBe(9);
    clock.advance(100);
    expect(fired).toBe(false);
    expect(clock.nextDeadline).toBe(Number.POSITIVE_INFINITY);
  });

  it("advance(0) fires timers already due, including ones in the past", () => {
    const clock = new VirtualClock({ now: 50 });
    let n = 0;
    clock.schedule(40, () => n++);
    clock.schedule(50, () => n++);
    clock.advance(0);
    expect(n).toBe(2);
    expect(clock.now).toBe(50);
  });

  it("keeps a heap order over many random timers", () => {
    const clock = new VirtualClock();
    const deadlines: number[] = [];
    let x = 12345;
    for (let i = 0; i < 500; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      deadlines.push(x % 10000);
    }
    const fired: number[] = [];
    for (const d of deadlines) clock.schedule(d, () => fired.push(clock.now));
    clock.advance(10000);
    expect(fired).toEqual([...deadlines].sort((a, b) => a - b));
  });

  it("saves now and frequency; restore drops timers", () => {
    const clock = new VirtualClock({ frequency: 1000 });
    clock.advance(123);
    clock.schedule(200, () => {
      throw new Error("must not fire after restore");
    });
    const saved = clock.save();
    expect(saved).toEqual({ now: 123, frequency: 1000 });
    const other = new VirtualClock({ frequency: 1000 });
    other.restore(JSON.parse(JSON.stringify(saved)));
    expect(other.now).toBe(123);
    clock.restore(saved);
    clock.advance(1000);
    expect(() => other.restore({ now: 0, frequency: 5 })).toThrow(RangeError);
  });
});

describe("RateConverter", () => {
  it("tickOf(n) is the first tick at which n device cycles have elapsed", () => {
    for (const [f, d] of [
      [100_000_000, 1_193_182],
      [1_193_182, 1_193_182],
      [1_000_000, 1_193_182],
      [100_000_000, 32_768],
    ]) {
      const conv = new RateConverter(f, d);
      for (const n of [1, 2, 17, 18, 1000, 65536, 1_193_181, 1_193_182, 5_000_000_000]) {
        const t = conv.tickOf(n);
        expect(conv.cycles(t)).toBeGreaterThanOrEqual(n);
        expect(conv.cycles(t - 1)).toBeLessThan(n);
      }
    }
    expect(new RateConverter(100_000_000, 1_193_182).cycles(100_000_000)).toBe(1_193_182);
  });
});

describe("WallClockPacer", () => {
  it("reports how far guest time is ahead of host time, and the tick the host has reached", () => {
    let host = 1000;
    const clock = new VirtualClock({ frequency: 1_000_000 });
    const pacer = new WallClockPacer(clock, () => host);
    clock.advance(50_000); // 50 ms of guest time
    expect(pacer.aheadMs).toBe(50);
    host += 20;
    expect(pacer.aheadMs).toBe(30);
    expect(pacer.hostTick).toBe(20_000);
    host += 100;
    expect(pacer.aheadMs).toBe(0);
    expect(pacer.hostTick).toBe(120_000);
    pacer.resync();
    expect(pacer.hostTick).toBe(50_000);
  });
});
