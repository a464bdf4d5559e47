import { describe, expect, it } from "vitest";
import { PIT_FREQUENCY, Pit8254, SystemControlPortB, VirtualClock } from "../src/index.js";
import { RecordingLine } from "./helpers.js";

/** A clock whose tick is one PIT clock, so cycle arithmetic in the tests is exact. */
function setup(frequency = PIT_FREQUENCY) {
  const clock = new VirtualClock({ frequency });
  const irq = new RecordingLine(clock);
  const pit = new Pit8254({ clock, irq });
  const portB = new SystemControlPortB(pit);
  const out = (port: number, v: number) => (port === 0x61 ? portB : pit).write(port, 1, v);
  const inb = (port: number) => (port === 0x61 ? portB : pit).read(port, 1);
  /** Latches counter `i` and reads it lsb then msb (the way BIOSes and Linux read it). */
  const latched = (i: number) => {
    out(0x43, i << 6);
    return inb(0x40 + i) | (inb(0x40 + i) << 8);
  };
  return { clock, irq, pit, portB, out, inb, latched };
}

describe("8254 PIT", () => {
  it("decodes 0x40-0x43 and reads the write-only control port as 0, as QEMU does", () => {
    const { pit, inb } = setup();
    expect(pit.ports).toEqual([{ base: 0x40, count: 4 }]);
    expect(inb(0x43)).toBe(0);
  });

  it("powers up like QEMU: counter 0 in mode 3 with count 65536 drives IRQ 0 at 18.2 Hz", () => {
    const { clock, irq } = setup();
    expect(irq.level).toBe(true);
    irq.clear();
    clock.advance(PIT_FREQUENCY);
    // 65536 clocks per period: rising edges at 65536 * k
    expect(irq.risingEdges).toEqual(Array.from({ length: 18 }, (_, k) => (k + 1) * 65536));
  });

  it("mode 0: OUT low after the control word, high N+1 clocks after the count is written", () => {
    const { clock, irq, out, latched } = setup();
    out(0x43, 0x30); // counter 0, lobyte/hibyte, mode 0, binary
    expect(irq.level).toBe(false);
    irq.clear();
    out(0x40, 100);
    out(0x40, 0);
    clock.advance(1); // the count is loaded on the next clock
    expect(latched(0)).toBe(100);
    clock.advance(40);
    expect(latched(0)).toBe(60);
    clock.advance(100);
    expect(irq.risingEdges).toEqual([101]);
    // The counter keeps counting down past zero and wraps.
    expect(latched(0)).toBe(0x10000 - 40);
    expect(irq.level).toBe(true);
  });

  it("mode 0: writing the first byte of a new count stops counting and drops OUT", () => {
    const { clock, irq, out } = setup();
    out(0x43, 0x30);
    irq.clear();
    out(0x40, 10);
    out(0x40, 0);
    clock.advance(20);
    expect(irq.level).toBe(true);
    out(0x40, 5);
    expect(irq.level).toBe(false);
    clock.advance(50);
    expect(irq.level).toBe(false); // still waiting for the msb
    out(0x40, 0);
    clock.advance(6);
    expect(irq.level).toBe(true);
    expect(irq.risingEdges).toEqual([11, 76]);
  });

  it("mode 2: a one-clock low pulse every N clocks; rising edges are IRQ 0", () => {
    const { clock, irq, out, latched } = setup();
    out(0x43, 0x34); // counter 0, lohi, mode 2
    out(0x40, 10);
    out(0x40, 0);
    irq.clear();
    clock.advance(1);
    expect(latched(0)).toBe(10);
    clock.advance(8);
    expect(latched(0)).toBe(2);
    expect(irq.level).toBe(true);
    clock.advance(1); // count 1: OUT low
    expect(latched(0)).toBe(1);
    expect(irq.level).toBe(false);
    clock.advance(1); // reload: OUT high again
    expect(latched(0)).toBe(10);
    clock.advance(40);
    expect(irq.risingEdges).toEqual([11, 21, 31, 41, 51]);
    expect(irq.log.filter((e) => !e.level).map((e) => e.at)).toEqual([10, 20, 30, 40, 50]);
  });

  it("mode 2: a new count written while counting takes effect at the end of the current period", () => {
    const { clock, irq, out } = setup();
    out(0x43, 0x34);
    out(0x40, 10);
    out(0x40, 0);
    clock.advance(5);
    out(0x40, 20);
    out(0x40, 0);
    clock.advance(60);
    expect(irq.risingEdges.filter((t) => t > 0)).toEqual([11, 31, 51]);
  });

  it("mode 2 at 100 Hz on a 100 MHz instruction clock", () => {
    const { clock, irq, out } = setup(100_000_000);
    out(0x43, 0x34);
    out(0x40, 11932 & 0xff);
    out(0x40, 11932 >> 8);
    irq.clear();
    clock.advance(100_000_000);
    const edges = irq.risingEdges;
    expect(edges.length).toBe(99);
    // First rising edge: N clocks after the load clock, converted to instruction ticks (rounded up).
    expect(edges[0]).toBe(Math.ceil(((1 + 11932) * 100_000_000) / PIT_FREQUENCY));
    // Each period is 11932 PIT clocks = 10.0001527 ms = 1_000_015.25 ticks.
    expect(edges[1] - edges[0]).toBeGreaterThanOrEqual(1_000_015);
    expect(edges[1] - edges[0]).toBeLessThanOrEqual(1_000_016);
  });

  it("mode 3 even count: square wave, high N/2 and low N/2, counting down by two (counter 2 via port 0x61)", () => {
    const { clock, out, inb, latched } = setup();
    out(0x43, 0xb6); // counter 2, lohi, mode 3
    out(0x42, 10);
    out(0x42, 0);
    expect(inb(0x61) & 0x20).toBe(0x20); // OUT2 high
    out(0x61, 0x01); // gate 2 high: count loads on the next clock
    const levels: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < 21; i++) {
      clock.advance(1);
      levels.push((inb(0x61) >> 5) & 1);
      counts.push(latched(2));
    }
    expect(levels.join("")).toBe("111110000011111000001");
    expect(counts.slice(0, 6)).toEqual([10, 8, 6, 4, 2, 10]);
  });

  it("mode 3 odd count: high (N+1)/2, low (N-1)/2", () => {
    const { clock, out, inb } = setup();
    out(0x61, 0x01);
    out(0x43, 0xb6);
    out(0x42, 5);
    out(0x42, 0);
    const levels: number[] = [];
    for (let i = 0; i < 11; i++) {
      clock.advance(1);
      levels.push((inb(0x61) >> 5) & 1);
    }
    expect(levels.join("")).toBe("11100111001");
  });

  it("mode 3: gate low forces OUT high and stops counting; the rising edge restarts the count", () => {
    const { clock, out, inb, latched } = setup();
    out(0x61, 0x01);
    out(0x43, 0xb6);
    out(0x42, 8);
    out(0x42, 0);
    clock.advance(6); // in the low half
    expect(inb(0x61) & 0x20).toBe(0);
    out(0x61, 0x00);
    expect(inb(0x61) & 0x21).toBe(0x20);
    const frozen = latched(2);
    clock.advance(100);
    expect(latched(2)).toBe(frozen);
    out(0x61, 0x01);
    clock.advance(1);
    expect(latched(2)).toBe(8);
  });

  it("mode 0: gate low suspends counting, gate high resumes it (counter 2)", () => {
    const { clock, out, inb, latched } = setup();
    out(0x61, 0x01);
    out(0x43, 0xb0); // counter 2, lohi, mode 0
    out(0x42, 50);
    out(0x42, 0);
    clock.advance(11);
    expect(latched(2)).toBe(40);
    out(0x61, 0x00);
    clock.advance(1000);
    expect(latched(2)).toBe(40);
    expect(inb(0x61) & 0x20).toBe(0);
    out(0x61, 0x01);
    clock.advance(39);
    expect(inb(0x61) & 0x20).toBe(0);
    clock.advance(1);
    expect(inb(0x61) & 0x20).toBe(0x20);
  });

  it("mode 4: a new count restarts the strobe", () => {
    const { clock, irq, out } = setup();
    out(0x43, 0x38);
    out(0x40, 50);
    out(0x40, 0);
    clock.advance(30);
    out(0x40, 10);
    out(0x40, 0);
    irq.clear();
    clock.advance(100);
    expect(irq.log.map((e) => [e.level, e.at])).toEqual([
      [false, 41],
      [true, 42],
    ]);
  });

  it("mode 3: a new count takes effect at the end of the current period", () => {
    const { clock, irq, out } = setup();
    out(0x43, 0x36); // counter 0, lohi, mode 3
    out(0x40, 10);
    out(0x40, 0);
    irq.clear();
    clock.advance(3);
    out(0x40, 4);
    out(0x40, 0);
    clock.advance(30);
    // falls at 6, rises at 11 (old count); then period 4: falls 13, rises 15, ...
    expect(irq.transitions).toEqual([
      [false, 6],
      [true, 11],
      [false, 13],
      [true, 15],
      [false, 17],
      [true, 19],
      [false, 21],
      [true, 23],
      [false, 25],
      [true, 27],
      [false, 29],
      [true, 31],
      [false, 33],
    ]);
  });

  it("mode 4: software-triggered strobe, one clock low at terminal count", () => {
    const { clock, irq, out } = setup();
    out(0x43, 0x38); // counter 0, lohi, mode 4
    expect(irq.level).toBe(true);
    out(0x40, 5);
    out(0x40, 0);
    irq.clear();
    clock.advance(20);
    expect(irq.log.map((e) => [e.level, e.at])).toEqual([
      [false, 6],
      [true, 7],
    ]);
  });

  it("mode 1: gate-triggered one-shot, retriggerable (counter 2)", () => {
    const { clock, out, inb, latched } = setup();
    out(0x43, 0xb2); // counter 2, lohi, mode 1
    out(0x42, 10);
    out(0x42, 0);
    clock.advance(50);
    expect(inb(0x61) & 0x20).toBe(0x20); // no trigger yet: OUT high
    out(0x61, 0x01); // trigger
    clock.advance(3);
    expect(inb(0x61) & 0x20).toBe(0);
    expect(latched(2)).toBe(8);
    out(0x61, 0x00);
    out(0x61, 0x01); // retrigger restarts the count
    clock.advance(9);
    expect(inb(0x61) & 0x20).toBe(0);
    clock.advance(2);
    expect(inb(0x61) & 0x20).toBe(0x20);
  });

  it("mode 5: gate-triggered strobe (counter 2)", () => {
    const { clock, out, inb } = setup();
    out(0x43, 0xba); // counter 2, lohi, mode 5
    out(0x42, 4);
    out(0x42, 0);
    clock.advance(10);
    out(0x61, 0x01);
    const levels: number[] = [];
    for (let i = 0; i < 8; i++) {
      clock.advance(1);
      levels.push((inb(0x61) >> 5) & 1);
    }
    expect(levels.join("")).toBe("11110111");
  });

  it("BCD counting: count register 0x0100 is one hundred, reads back in BCD", () => {
    const { clock, out, latched } = setup();
    out(0x43, 0x31); // counter 0, lohi, mode 0, BCD
    out(0x40, 0x00);
    out(0x40, 0x01);
    clock.advance(12);
    expect(latched(0)).toBe(0x0089);
  });

  it("BCD count 0 is 10000", () => {
    const { clock, out, latched } = setup();
    out(0x43, 0x35); // mode 2, BCD
    out(0x40, 0);
    out(0x40, 0);
    clock.advance(2);
    expect(latched(0)).toBe(0x9999);
  });

  it("lobyte-only and hibyte-only access modes", () => {
    const { clock, out, inb } = setup();
    out(0x43, 0x50); // counter 1, lobyte only, mode 0
    out(0x41, 0x80);
    clock.advance(1);
    expect(inb(0x41)).toBe(0x80);
    expect(inb(0x41)).toBe(0x80); // no flip-flop: every read is the low byte
    out(0x43, 0x60); // counter 1, hibyte only, mode 0
    out(0x41, 0x02); // count 0x0200
    clock.advance(1);
    expect(inb(0x41)).toBe(0x02);
    clock.advance(1);
    expect(inb(0x41)).toBe(0x01); // 0x01FF
  });

  it("counter latch holds the value until read; a second latch before reading is ignored", () => {
    const { clock, out, inb } = setup();
    out(0x43, 0x34);
    out(0x40, 0xe8);
    out(0x40, 0x03); // 1000
    clock.advance(10);
    out(0x43, 0x00);
    clock.advance(100);
    out(0x43, 0x00);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(991);
    out(0x43, 0x00);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(891);
  });

  it("read-back command latches status and count; status is read first", () => {
    const { clock, out, inb } = setup();
    out(0x43, 0x34); // counter 0, lohi, mode 2
    // Status after the control word: OUT high, null count, RW=3, mode 2.
    out(0x43, 0xe2); // read-back, status only, counter 0
    expect(inb(0x40)).toBe(0x80 | 0x40 | 0x30 | 0x04);
    out(0x40, 100);
    out(0x40, 0);
    out(0x43, 0xe2);
    expect(inb(0x40) & 0x40).toBe(0x40); // not yet loaded into CE
    clock.advance(5);
    out(0x43, 0xc2); // read-back: count and status, counter 0
    clock.advance(5);
    expect(inb(0x40)).toBe(0x80 | 0x30 | 0x04);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(96);
    // Read-back of counter 2 status only: power-up mode 3, gate low.
    out(0x43, 0xe8);
    expect(inb(0x42)).toBe(0x80 | 0x30 | 0x06);
  });

  it("port 0x61: gate and speaker bits read back, bit 4 toggles every 18 PIT clocks", () => {
    const speaker: boolean[] = [];
    const clock = new VirtualClock({ frequency: PIT_FREQUENCY });
    const pit = new Pit8254({ clock, irq: new RecordingLine() });
    const portB = new SystemControlPortB(pit, (on) => speaker.push(on));
    expect(portB.ports).toEqual([{ base: 0x61, count: 1 }]);
    portB.write(0x61, 1, 0x03);
    expect(pit.getGate(2)).toBe(true);
    expect(speaker).toEqual([true]);
    const bits: number[] = [];
    for (let i = 0; i < 4; i++) {
      bits.push((portB.read(0x61, 1) >> 4) & 1);
      clock.advance(18);
    }
    expect(bits).toEqual([0, 1, 0, 1]);
    expect(portB.read(0x61, 1) & 0xcf).toBe(0x03);
  });

  it("snapshot: a restored PIT produces the same IRQ 0 edges as the original", () => {
    const a = setup(100_000_000);
    a.out(0x43, 0x34);
    a.out(0x40, 0x00);
    a.out(0x40, 0x10); // 4096
    a.clock.advance(12_345_678);
    const saved = JSON.parse(JSON.stringify({ clock: a.clock.save(), pit: a.pit.save() }));
    const b = setup(100_000_000);
    b.clock.restore(saved.clock);
    b.pit.restore(saved.pit);
    a.irq.clear();
    b.irq.clear();
    a.clock.advance(5_000_000);
    b.clock.advance(5_000_000);
    expect(b.irq.risingEdges).toEqual(a.irq.risingEdges);
    expect(b.irq.risingEdges.length).toBeGreaterThanOrEqual(14); // 50 ms / 3.4 ms
    expect(b.latched(0)).toBe(a.latched(0));
  });

  it("delivers both edges of a one-clock pulse even with a clock slower than the PIT", () => {
    const { clock, irq, out } = setup(1_000_000);
    out(0x43, 0x34);
    out(0x40, 2);
    out(0x40, 0);
    irq.clear();
    clock.advance(1000);
    // 1000 us at 1.193182 MHz with N=2: about 596 periods, each a rising edge.
    expect(irq.risingEdges.length).toBeGreaterThanOrEqual(595);
    expect(irq.risingEdges.length).toBeLessThanOrEqual(597);
  });
});
