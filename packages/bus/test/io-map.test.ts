import type { AccessSize, IoPortHandler } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { IoPortMap } from "../src/index.js";

function device(log: string[], value: (port: number, size: AccessSize) => number): IoPortHandler {
  return {
    read(port, size) {
      log.push(`in${size * 8} ${port.toString(16)}`);
      return value(port, size);
    },
    write(port, size, v) {
      log.push(`out${size * 8} ${port.toString(16)}=${v.toString(16)}`);
    },
  };
}

describe("IoPortMap", () => {
  it("reads all ones from unclaimed ports at every width and ignores writes", () => {
    const io = new IoPortMap();
    expect(io.in8(0x80)).toBe(0xff);
    expect(io.in16(0x80)).toBe(0xffff);
    expect(io.in32(0x80)).toBe(0xffffffff);
    io.out32(0x80, 0);
    expect(io.in32(0x80)).toBe(0xffffffff);
  });

  it("passes absolute port numbers and every width to a device that decodes them", () => {
    const log: string[] = [];
    const io = new IoPortMap();
    io.register(
      0xcf8,
      8,
      device(log, (port, size) =>
        size === 4 ? 0x80000000 + port : size === 2 ? 0x1200 + (port & 0xff) : port & 0xff,
      ),
    );
    expect(io.in8(0xcf9)).toBe(0xf9);
    expect(io.in16(0xcfa)).toBe(0x12fa);
    expect(io.in32(0xcfc)).toBe(0x80000cfc);
    io.out8(0xcf8, 0x1ff);
    io.out16(0xcf8, 0x12345);
    io.out32(0xcf8, -1);
    expect(log).toEqual([
      "in8 cf9",
      "in16 cfa",
      "in32 cfc",
      "out8 cf8=ff",
      "out16 cf8=2345",
      "out32 cf8=ffffffff",
    ]);
  });

  it("splits wide accesses for a byte-only device, low port first", () => {
    const log: string[] = [];
    const io = new IoPortMap();
    io.register(
      0x3f8,
      8,
      device(log, (port) => port & 0xff),
      { sizes: [1], name: "uart" },
    );
    expect(io.in16(0x3f8)).toBe(0xf9f8);
    expect(io.in32(0x3f8)).toBe(0xfbfaf9f8);
    io.out16(0x3f8, 0x4142);
    expect(log).toEqual([
      "in8 3f8",
      "in8 3f9",
      "in8 3f8",
      "in8 3f9",
      "in8 3fa",
      "in8 3fb",
      "out8 3f8=42",
      "out8 3f9=41",
    ]);
  });

  it("splits an access that runs past the end of a claim and fills the rest with all ones", () => {
    const log: string[] = [];
    const io = new IoPortMap();
    io.register(
      0x60,
      1,
      device(log, () => 0x1c),
      { name: "kbd" },
    );
    expect(io.in16(0x60)).toBe(0xff1c);
    expect(io.in32(0x5f)).toBe(0xffff1cff);
  });

  it("wraps the port number at 0xffff", () => {
    const io = new IoPortMap();
    io.register(
      0,
      1,
      device([], () => 0x11),
    );
    expect(io.in16(0xffff)).toBe(0x11ff);
    expect(io.in8(0x10000)).toBe(0x11);
  });

  it("rejects overlapping claims, naming both, and allows re-use after unregister", () => {
    const io = new IoPortMap();
    io.register(
      0x40,
      4,
      device([], () => 0),
      { name: "pit" },
    );
    expect(() =>
      io.register(
        0x43,
        2,
        device([], () => 0),
        { name: "late" },
      ),
    ).toThrow("late at port 0x43 overlaps pit at 0x40+4");
    expect(() =>
      io.register(
        0xffff,
        2,
        device([], () => 0),
      ),
    ).toThrow(/outside/);
    io.unregister(0x40);
    io.register(
      0x43,
      2,
      device([], () => 7),
      { name: "late" },
    );
    expect(io.in8(0x43)).toBe(7);
    expect(io.claims).toEqual([{ base: 0x43, count: 2, name: "late" }]);
    expect(() => io.unregister(0x44)).toThrow(/no claim/);
  });
});
