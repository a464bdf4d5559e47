import { type AccessSize, DirectAccess, type MmioHandler } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { PhysicalMemoryMap, RegionKind } from "../src/index.js";

/** An MMIO device that records every access and answers with a value derived from it. */
function recorder() {
  const log: string[] = [];
  const handler: MmioHandler = {
    read(offset: number, size: AccessSize) {
      log.push(`r${size}@${offset.toString(16)}`);
      return size === 1 ? 0xa0 + offset : size === 2 ? 0xb000 + offset : 0xc0000000 + offset;
    },
    write(offset: number, size: AccessSize, value: number) {
      log.push(`w${size}@${offset.toString(16)}=${value.toString(16)}`);
    },
  };
  return { log, handler };
}

describe("PhysicalMemoryMap regions", () => {
  it("rejects a region that overlaps another, naming both", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0x10000 });
    expect(() => memory.addMmio(0xf000, 0x2000, recorder().handler, "uart")).toThrow(
      "uart at 0xf000+0x2000 overlaps ram at 0x0+0x10000",
    );
    memory.addRom(0xffff0000, new Uint8Array(16), "bios");
    expect(() => memory.addMmio(0xffff0000, 0x1000, recorder().handler, "late")).toThrow(/overlaps bios/);
    expect(memory.regions.map((r) => r.name)).toEqual(["ram", "bios"]);
  });

  it("rejects unaligned, empty and out-of-space ranges", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0 });
    expect(() => memory.addMmio(0x100, 0x1000, recorder().handler)).toThrow(/page aligned/);
    expect(() => memory.addMmio(0x1000, 0, recorder().handler)).toThrow(/not inside/);
    expect(() => memory.addMmio(0xfffff000, 0x2000, recorder().handler)).toThrow(/not inside/);
    expect(() => memory.addRam(0, 0x1000)).toThrow(/beyond the 0x0 bytes of RAM/);
    expect(() => new PhysicalMemoryMap({ ramSize: 1000 })).toThrow(/multiple of 4 KiB/);
  });

  it("maps RAM only where ramRanges say, leaving holes open", () => {
    const memory = new PhysicalMemoryMap({
      ramSize: 0x200000,
      ramRanges: [
        [0, 0xa0000],
        [0x100000, 0x100000],
      ],
    });
    expect(memory.kindAt(0x9ffff)).toBe(RegionKind.Ram);
    expect(memory.kindAt(0xa0000)).toBe(RegionKind.Unmapped);
    expect(memory.kindAt(0x100000)).toBe(RegionKind.Ram);
    memory.write8(0xb8000, 0x41);
    expect(memory.read8(0xb8000)).toBe(0xff);
    expect(memory.ram[0xb8000]).toBe(0);
  });
});

describe("open bus", () => {
  it("reads all ones at every width where nothing is mapped and drops writes", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0x1000 });
    expect(memory.read8(0x5000)).toBe(0xff);
    expect(memory.read16(0x5000)).toBe(0xffff);
    expect(memory.read32(0x5000)).toBe(0xffffffff);
    expect(memory.read32(0xfffffffc)).toBe(0xffffffff);
    memory.write32(0x5000, 0x12345678);
    expect(memory.read32(0x5000)).toBe(0xffffffff);
  });

  it("mixes RAM and open bus bytes in an access that straddles the end of RAM", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0x1000 });
    memory.write16(0xffe, 0xbeef);
    expect(memory.read32(0xffe)).toBe(0xffffbeef);
    memory.write32(0xffe, 0x11223344);
    expect(memory.read16(0xffe)).toBe(0x3344);
    expect(memory.read8(0x1000)).toBe(0xff);
  });
});

describe("RAM", () => {
  it("is little-endian and unsigned at every width", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0x2000 });
    memory.write32(0x100, 0xdeadbeef);
    expect(memory.read32(0x100)).toBe(0xdeadbeef);
    expect(memory.read16(0x102)).toBe(0xdead);
    expect(memory.read8(0x100)).toBe(0xef);
    expect([...memory.ram.subarray(0x100, 0x104)]).toEqual([0xef, 0xbe, 0xad, 0xde]);
    memory.write16(0x200, 0x1_8001);
    expect(memory.read16(0x200)).toBe(0x8001);
    memory.write8(0x300, -1);
    expect(memory.read8(0x300)).toBe(0xff);
  });

  it("handles accesses that cross a page boundary inside RAM", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0x2000 });
    memory.write32(0xffd, 0x04030201);
    expect([...memory.ram.subarray(0xffd, 0x1001)]).toEqual([1, 2, 3, 4]);
    expect(memory.read32(0xffd)).toBe(0x04030201);
    expect(memory.read16(0xfff)).toBe(0x0403);
  });

  it("exposes a fast path: direct pages are exactly the RAM pages and share the bytes", () => {
    const memory = new PhysicalMemoryMap({
      ramSize: 0x3000,
      ramRanges: [
        [0, 0x1000],
        [0x2000, 0x1000],
      ],
    });
    memory.addMmio(0x1000, 0x1000, recorder().handler);
    const { ram, direct } = memory.fastPath;
    expect(direct.length).toBe(1 << 20);
    expect(direct[0]).toBe(DirectAccess.Read | DirectAccess.Write);
    expect(direct[1]).toBe(0);
    expect(direct[2]).toBe(DirectAccess.Read | DirectAccess.Write);
    expect(direct[3]).toBe(0);
    ram[0x2004] = 0x5a;
    expect(memory.read8(0x2004)).toBe(0x5a);
    memory.write8(0x10, 0x77);
    expect(ram[0x10]).toBe(0x77);
  });

  it("saves and restores RAM as JSON-able data", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0x20000 });
    for (let i = 0; i < memory.ram.length; i++) memory.ram[i] = (i * 7 + (i >>> 9)) & 0xff;
    const saved = JSON.parse(JSON.stringify(memory.save()));
    const other = new PhysicalMemoryMap({ ramSize: 0x20000 });
    other.restore(saved);
    expect(Buffer.compare(other.ram, memory.ram)).toBe(0);
    expect(() => new PhysicalMemoryMap({ ramSize: 0x1000 }).restore(saved)).toThrow(/0x20000|131072/);
  });
});

describe("ROM", () => {
  it("reads its bytes, pads with 0xFF and ignores writes", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0 });
    memory.addRom(0xffff0000, Uint8Array.of(0xea, 0x5b, 0xe0, 0x00, 0xf0));
    expect(memory.read8(0xffff0000)).toBe(0xea);
    expect(memory.read32(0xffff0001)).toBe(0xf000e05b);
    expect(memory.read8(0xffff0005)).toBe(0xff);
    memory.write8(0xffff0000, 0x90);
    expect(memory.read8(0xffff0000)).toBe(0xea);
    expect(memory.fastPath.direct[0xffff0]).toBe(0);
  });
});

describe("MMIO", () => {
  it("dispatches reads and writes at every width with region offsets", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0 });
    const { log, handler } = recorder();
    memory.addMmio(0xfee00000, 0x1000, handler);
    expect(memory.read8(0xfee00020)).toBe(0xa0 + 0x20);
    expect(memory.read16(0xfee00030)).toBe(0xb030);
    expect(memory.read32(0xfee000f0)).toBe(0xc00000f0);
    memory.write8(0xfee00001, 0x1ff);
    memory.write16(0xfee00002, 0x12345);
    memory.write32(0xfee00004, -2);
    expect(log).toEqual(["r1@20", "r2@30", "r4@f0", "w1@1=ff", "w2@2=2345", "w4@4=fffffffe"]);
  });

  it("masks what a handler returns to the access width", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0 });
    memory.addMmio(0x10000, 0x1000, { read: () => -1, write: () => {} });
    expect(memory.read8(0x10000)).toBe(0xff);
    expect(memory.read16(0x10000)).toBe(0xffff);
    expect(memory.read32(0x10000)).toBe(0xffffffff);
  });

  it("splits an access that leaves the device's window into byte accesses", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 0x1000 });
    const { log, handler } = recorder();
    memory.addMmio(0x1000, 0x1000, handler);
    expect(memory.read32(0xffe)).toBe(((0xa1 << 24) | (0xa0 << 16)) >>> 0);
    expect(log).toEqual(["r1@0", "r1@1"]);
    log.length = 0;
    memory.write32(0x1ffe, 0xaabbccdd);
    expect(log).toEqual(["w1@ffe=dd", "w1@fff=cc"]);
  });
});

describe("snapshot encoding", () => {
  it("round-trips RAM sizes whose byte count is not a multiple of three", () => {
    for (const pages of [1, 2, 3]) {
      const memory = new PhysicalMemoryMap({ ramSize: pages * 4096 });
      for (let i = 0; i < memory.ram.length; i++) memory.ram[i] = (i * 131) & 0xff;
      const saved = memory.save();
      expect(saved.ram).toBe(Buffer.from(memory.ram).toString("base64"));
      const other = new PhysicalMemoryMap({ ramSize: pages * 4096 });
      other.restore(saved);
      expect(Buffer.compare(other.ram, memory.ram)).toBe(0);
    }
  });
});
