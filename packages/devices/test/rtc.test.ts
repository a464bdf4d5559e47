import { describe, expect, it } from "vitest";
import { Rtc, VirtualClock } from "../src/index.js";
import { RecordingLine } from "./helpers.js";

/** A 1 MHz clock: one tick is one microsecond. */
function setup(startTime?: Date | number | "host") {
  const clock = new VirtualClock({ frequency: 1_000_000 });
  const irq = new RecordingLine(clock);
  const rtc = new Rtc({ clock, irq, startTime });
  const cmos = (index: number) => {
    rtc.write(0x70, 1, index);
    return rtc.read(0x71, 1);
  };
  const setCmos = (index: number, v: number) => {
    rtc.write(0x70, 1, index);
    rtc.write(0x71, 1, v);
  };
  return { clock, irq, rtc, cmos, setCmos };
}

const SECOND = 1_000_000;

describe("MC146818 RTC / CMOS", () => {
  it("decodes 0x70-0x71; starts at 2026-01-01 00:00:00 in 24-hour BCD", () => {
    const { rtc, cmos } = setup();
    expect(rtc.ports).toEqual([{ base: 0x70, count: 2 }]);
    expect([0, 2, 4, 6, 7, 8, 9, 0x32].map(cmos)).toEqual([0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x26, 0x20]);
    expect(cmos(0x0a)).toBe(0x26);
    expect(cmos(0x0b)).toBe(0x02);
    expect(cmos(0x0d)).toBe(0x80);
  });

  it("time advances with the virtual clock", () => {
    const { clock, cmos } = setup(Date.UTC(2026, 11, 31, 23, 59, 58));
    clock.advance(SECOND - 1);
    expect(cmos(0)).toBe(0x58);
    clock.advance(1);
    expect(cmos(0)).toBe(0x59);
    clock.advance(SECOND);
    expect([0, 2, 4, 7, 8, 9, 0x32].map(cmos)).toEqual([0, 0, 0, 1, 1, 0x27, 0x20]);
    clock.advance(3661 * SECOND);
    expect([4, 2, 0].map(cmos)).toEqual([0x01, 0x01, 0x01]);
  });

  it("binary and 12-hour formats per register B", () => {
    const { cmos, setCmos } = setup(Date.UTC(2026, 5, 15, 13, 45, 30));
    expect([0, 2, 4].map(cmos)).toEqual([0x30, 0x45, 0x13]);
    setCmos(0x0b, 0x06); // binary, 24 h
    expect([0, 2, 4, 8, 9].map(cmos)).toEqual([30, 45, 13, 6, 26]);
    setCmos(0x0b, 0x04); // binary, 12 h
    expect(cmos(4)).toBe(0x80 | 1);
    setCmos(0x0b, 0x00); // BCD, 12 h
    expect(cmos(4)).toBe(0x81);
  });

  it("12-hour midnight and noon", () => {
    const { cmos, setCmos } = setup(Date.UTC(2026, 0, 1, 0, 0, 0));
    setCmos(0x0b, 0x00);
    expect(cmos(4)).toBe(0x12);
    const noon = setup(Date.UTC(2026, 0, 1, 12, 0, 0));
    noon.setCmos(0x0b, 0x00);
    expect(noon.cmos(4)).toBe(0x92);
  });

  it("UIP is set during the last 244 us before each update", () => {
    const { clock, cmos } = setup();
    clock.advance(SECOND - 300);
    expect(cmos(0x0a) & 0x80).toBe(0);
    clock.advance(100);
    expect(cmos(0x0a) & 0x80).toBe(0x80);
    expect(cmos(0)).toBe(0x00); // the old second until the update
    clock.advance(200);
    expect(cmos(0x0a) & 0x80).toBe(0);
    expect(cmos(0)).toBe(0x01);
  });

  it("periodic interrupt at 1024 Hz; register C read clears the flags and the line", () => {
    const { clock, irq, cmos, setCmos } = setup();
    setCmos(0x0b, 0x42); // PIE, 24 h
    expect(irq.level).toBe(false);
    clock.advance(976);
    expect(irq.level).toBe(false);
    clock.advance(1); // 32 cycles of 32.768 kHz = 976.5625 us
    expect(irq.level).toBe(true);
    expect(cmos(0x0c)).toBe(0xc0);
    expect(irq.level).toBe(false);
    expect(cmos(0x0c)).toBe(0x00);
    irq.clear();
    clock.advance(10_000);
    expect(irq.risingEdges.length).toBe(1); // nobody read C: the line stays up
    expect(cmos(0x0c)).toBe(0xc0);
  });

  it("rate select: RS=15 is 2 Hz, RS=0 stops the periodic flag", () => {
    const { clock, irq, cmos, setCmos } = setup();
    setCmos(0x0a, 0x2f);
    setCmos(0x0b, 0x42);
    clock.advance(499_999);
    expect(irq.level).toBe(false);
    clock.advance(1);
    expect(irq.level).toBe(true);
    cmos(0x0c);
    setCmos(0x0a, 0x20);
    clock.advance(2 * SECOND);
    expect(cmos(0x0c) & 0x40).toBe(0);
  });

  it("PF is set without PIE (polled), but IRQF and the line are not", () => {
    const { clock, irq, cmos } = setup();
    clock.advance(2000);
    expect(cmos(0x0c)).toBe(0x40);
    expect(cmos(0x0c)).toBe(0x00);
    expect(irq.log).toEqual([]);
  });

  it("enabling PIE while PF is already set raises the interrupt at once", () => {
    const { clock, irq, setCmos, cmos } = setup();
    clock.advance(1500);
    setCmos(0x0b, 0x42);
    expect(irq.level).toBe(true);
    expect(cmos(0x0c)).toBe(0xc0);
  });

  it("schedules no timer while no RTC interrupt is enabled (an idle machine has no deadline)", () => {
    const { clock, setCmos } = setup();
    expect(clock.nextDeadline).toBe(Number.POSITIVE_INFINITY);
    setCmos(0x0b, 0x12);
    expect(clock.nextDeadline).toBe(SECOND);
    setCmos(0x0b, 0x02);
    expect(clock.nextDeadline).toBe(Number.POSITIVE_INFINITY);
  });

  it("UF and AF are set without their enables when polled, even after a long gap", () => {
    const { clock, cmos, setCmos } = setup();
    setCmos(0x01, 0x30);
    setCmos(0x03, 0x59);
    setCmos(0x05, 0x23); // 23:59:30
    clock.advance(SECOND / 2);
    expect(cmos(0x0c) & 0x30).toBe(0x00);
    clock.advance(2 * 86400 * SECOND);
    expect(cmos(0x0c) & 0x30).toBe(0x30);
    clock.advance(SECOND);
    expect(cmos(0x0c) & 0x30).toBe(0x10); // 00:00:01 is not the alarm time
  });

  it("setting the time is not an update cycle", () => {
    const { cmos, setCmos } = setup();
    cmos(0x0c);
    setCmos(0x04, 0x10);
    expect(cmos(4)).toBe(0x10);
    expect(cmos(0x0c) & 0x10).toBe(0);
  });

  it("update-ended interrupt once a second", () => {
    const { clock, irq, cmos, setCmos } = setup();
    setCmos(0x0b, 0x12); // UIE
    clock.advance(SECOND - 1);
    expect(irq.level).toBe(false);
    clock.advance(1);
    expect(irq.level).toBe(true);
    // PF is set too: the periodic flag runs whatever PIE says (datasheet, register C).
    expect(cmos(0x0c)).toBe(0x80 | 0x40 | 0x10);
    clock.advance(SECOND);
    expect(cmos(0x0c)).toBe(0x80 | 0x40 | 0x10);
  });

  it("alarm interrupt when the time matches; 0xC0-0xFF are don't-care", () => {
    const { clock, irq, cmos, setCmos } = setup();
    setCmos(0x01, 0x05);
    setCmos(0x03, 0x00);
    setCmos(0x05, 0x00);
    setCmos(0x0b, 0x22); // AIE
    clock.advance(4 * SECOND);
    expect(irq.level).toBe(false);
    expect(cmos(0x0c)).toBe(0x10 | 0x40); // UF and PF set, no enable
    clock.advance(SECOND);
    expect(irq.level).toBe(true);
    expect(cmos(0x0c) & 0xb0).toBe(0x80 | 0x20 | 0x10);
    setCmos(0x01, 0xff);
    setCmos(0x03, 0xc0);
    setCmos(0x05, 0xff);
    clock.advance(SECOND);
    expect(cmos(0x0c) & 0xa0).toBe(0xa0);
  });

  it("SET freezes the clock for setting; writes are decoded in the current format", () => {
    const { clock, cmos, setCmos } = setup();
    clock.advance(10 * SECOND);
    setCmos(0x0b, 0x82); // SET
    setCmos(0x04, 0x21);
    setCmos(0x02, 0x30);
    setCmos(0x00, 0x15);
    setCmos(0x09, 0x30);
    clock.advance(5 * SECOND);
    expect([4, 2, 0, 9].map(cmos)).toEqual([0x21, 0x30, 0x15, 0x30]);
    expect(cmos(0x0a) & 0x80).toBe(0);
    setCmos(0x0b, 0x02);
    clock.advance(2 * SECOND);
    expect([4, 2, 0].map(cmos)).toEqual([0x21, 0x30, 0x17]);
    expect(cmos(0x09)).toBe(0x30);
  });

  it("SET clears UIE", () => {
    const { cmos, setCmos } = setup();
    setCmos(0x0b, 0x90 | 0x02);
    expect(cmos(0x0b)).toBe(0x82);
  });

  it("divider reset holds time; leaving it puts the next update 500 ms away", () => {
    const { clock, cmos, setCmos } = setup();
    clock.advance(300_000);
    setCmos(0x0a, 0x66); // DV = 110: reset
    clock.advance(5 * SECOND);
    expect(cmos(0)).toBe(0x00);
    setCmos(0x0a, 0x26);
    clock.advance(499_900);
    expect(cmos(0)).toBe(0x00);
    clock.advance(200);
    expect(cmos(0)).toBe(0x01);
  });

  it("index bit 7 masks NMI; the index port reads 0xFF; RAM bytes read back", () => {
    const { rtc, cmos, setCmos } = setup();
    expect(rtc.nmiMasked).toBe(false);
    rtc.write(0x70, 1, 0x80 | 0x40);
    expect(rtc.nmiMasked).toBe(true);
    rtc.write(0x71, 1, 0xa5);
    expect(cmos(0x40)).toBe(0xa5);
    expect(rtc.nmiMasked).toBe(false);
    expect(rtc.read(0x70, 1)).toBe(0xff);
    setCmos(0x7f, 0x11);
    expect(rtc.readCmos(0x7f)).toBe(0x11);
    setCmos(0x0d, 0x00);
    expect(cmos(0x0d)).toBe(0x80);
  });

  it("memory-size bytes as BIOSes set them", () => {
    const { rtc, cmos } = setup();
    rtc.setMemorySize(128 * 1024 * 1024);
    expect([0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35].map(cmos)).toEqual([
      0x80, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0x07,
    ]);
    rtc.setMemorySize(4 * 1024 * 1024 * 1024 - 1);
    expect([0x17, 0x18, 0x34, 0x35].map(cmos)).toEqual([0xff, 0xff, 0xff, 0xfe]);
    rtc.setMemorySize(8 * 1024 * 1024);
    expect([0x17, 0x18, 0x34, 0x35].map(cmos)).toEqual([0x00, 0x1c, 0x00, 0x00]);
  });

  it("startTime 'host' uses the host's time at construction", () => {
    const before = Math.floor(Date.now() / 1000);
    const { rtc } = setup("host");
    const t = rtc.time.getTime() / 1000;
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(before + 5);
  });

  it("snapshot: time, flags and interrupts continue identically", () => {
    const a = setup();
    a.setCmos(0x0b, 0x52); // PIE + UIE
    a.setCmos(0x40, 0x77);
    a.clock.advance(1_234_567);
    const saved = JSON.parse(JSON.stringify({ clock: a.clock.save(), rtc: a.rtc.save() }));
    const b = setup();
    b.clock.restore(saved.clock);
    b.rtc.restore(saved.rtc);
    expect(b.irq.level).toBe(a.irq.level);
    a.irq.clear();
    b.irq.clear();
    for (let i = 0; i < 5; i++) {
      a.clock.advance(300_001);
      b.clock.advance(300_001);
      expect(b.cmos(0x0c)).toBe(a.cmos(0x0c));
      expect(b.cmos(0)).toBe(a.cmos(0));
    }
    expect(b.irq.log).toEqual(a.irq.log);
    expect(b.cmos(0x40)).toBe(0x77);
  });
});
