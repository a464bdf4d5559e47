import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  findMultibootHeader,
  INFO_ADDRESS,
  loadMultiboot,
  MMAP_ADDRESS,
  MultibootError,
  type MultibootMemory,
} from "../src/multiboot.js";

const guests = join(import.meta.dirname, "../../../tooling/guests/build");
const MiB = 1024 * 1024;

function ram(
  size: number,
): MultibootMemory & { bytes: Uint8Array; u32(a: number): number; str(a: number): string } {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  return {
    bytes,
    writeBytes(address, data) {
      bytes.set(data, address);
    },
    u32: (a) => view.getUint32(a, true),
    str(a) {
      let s = "";
      while (bytes[a] !== 0) s += String.fromCharCode(bytes[a++]);
      return s;
    },
  };
}

/** A minimal ELF32 i386 executable with one PT_LOAD segment and a Multiboot header in it. */
function elf(options: {
  paddr?: number;
  vaddr?: number;
  entry?: number;
  memsz?: number;
  flags?: number;
  header?: boolean;
}) {
  const paddr = options.paddr ?? 0x100000;
  const vaddr = options.vaddr ?? paddr;
  const code = new Uint8Array(64);
  const cv = new DataView(code.buffer);
  if (options.header ?? true) {
    const flags = options.flags ?? 3;
    cv.setUint32(0, 0x1badb002, true);
    cv.setUint32(4, flags, true);
    cv.setUint32(8, -(0x1badb002 + flags) >>> 0, true);
  }
  code[12] = 0xf4; // hlt
  const file = new Uint8Array(0x100 + code.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  v.setUint16(16, 2, true);
  v.setUint16(18, 3, true);
  v.setUint32(20, 1, true);
  v.setUint32(24, options.entry ?? vaddr + 12, true);
  v.setUint32(28, 52, true);
  v.setUint16(40, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(44, 1, true);
  v.setUint32(52, 1, true); // PT_LOAD
  v.setUint32(56, 0x100, true);
  v.setUint32(60, vaddr, true);
  v.setUint32(64, paddr, true);
  v.setUint32(68, code.length, true);
  v.setUint32(72, options.memsz ?? 0x2000, true);
  v.setUint32(76, 7, true);
  file.set(code, 0x100);
  return file;
}

describe("Multiboot header search", () => {
  it("finds the header of every committed kernel within 8 KiB", () => {
    for (const name of ["hello.elf", "mbinfo.elf", "aout_kludge.bin", "higher_half.elf"]) {
      const h = findMultibootHeader(readFileSync(join(guests, name)));
      expect(h, name).not.toBeNull();
      expect(h!.offset).toBeLessThan(8192);
    }
  });
  it("ignores a magic whose checksum does not add up", () => {
    const image = elf({});
    image[0x108] ^= 1;
    expect(findMultibootHeader(image)).toBeNull();
  });
});

describe("loadMultiboot", () => {
  it("loads an ELF kernel, zeroes its BSS and fills the information structure like QEMU", () => {
    const mem = ram(16 * MiB);
    mem.bytes.fill(0xcc, 0x100000, 0x102000);
    const boot = loadMultiboot(
      {
        image: elf({}),
        cmdline: "kernel.elf quiet",
        memorySize: 16 * MiB,
        modules: [{ string: "initrd.img root=1", data: new Uint8Array([1, 2, 3]) }],
      },
      mem,
    );
    expect(boot.entry).toBe(0x10000c);
    expect(boot.infoAddress).toBe(INFO_ADDRESS);
    expect(mem.bytes[0x10000c]).toBe(0xf4);
    expect(mem.bytes.subarray(0x100040, 0x102000).every((b) => b === 0)).toBe(true);
    const info = INFO_ADDRESS;
    expect(mem.u32(info)).toBe(0x24f);
    expect(mem.u32(info + 4)).toBe(639);
    expect(mem.u32(info + 8)).toBe(15 * 1024);
    expect(mem.u32(info + 12)).toBe(0x8000ffff);
    expect(mem.str(mem.u32(info + 16))).toBe("kernel.elf quiet");
    expect(mem.u32(info + 20)).toBe(1);
    const mods = mem.u32(info + 24);
    expect(mods).toBe(0x102000); // the first page after the kernel's BSS
    expect(mem.u32(mods)).toBe(0x103000);
    expect(mem.u32(mods + 4)).toBe(0x103003);
    expect(mem.str(mem.u32(mods + 8))).toBe("initrd.img root=1");
    expect([...mem.bytes.subarray(0x103000, 0x103003)]).toEqual([1, 2, 3]);
    expect(mem.str(mem.u32(info + 64))).toBe("pagurus");
    expect(mem.u32(info + 44)).toBe(120);
    expect(mem.u32(info + 48)).toBe(MMAP_ADDRESS);
    // the hole between 640 KiB and 1 MiB: 0-0x9FC00 available, then reserved, then 1 MiB up
    expect(mem.u32(MMAP_ADDRESS + 12)).toBe(0x9fc00);
    expect(mem.u32(MMAP_ADDRESS + 24 + 4)).toBe(0x9fc00);
    expect(mem.u32(MMAP_ADDRESS + 24 + 20)).toBe(2);
    expect(mem.u32(MMAP_ADDRESS + 72 + 4)).toBe(0x100000);
    expect(mem.u32(MMAP_ADDRESS + 72 + 12)).toBe(15 * MiB);
  });

  it("loads by p_paddr and moves e_entry with an executable segment linked elsewhere", () => {
    const mem = ram(8 * MiB);
    const boot = loadMultiboot({ image: elf({ vaddr: 0xc0100000 }), cmdline: "k", memorySize: 8 * MiB }, mem);
    expect(boot.entry).toBe(0x10000c);
    expect(mem.bytes[0x10000c]).toBe(0xf4);
  });

  it("boots a flat image through the a.out-kludge fields", () => {
    const image = readFileSync(join(guests, "aout_kludge.bin"));
    const mem = ram(8 * MiB);
    const boot = loadMultiboot({ image, cmdline: "k", memorySize: 8 * MiB }, mem);
    expect(boot.format).toBe("aout-kludge");
    expect(boot.kernelStart).toBe(0x100000);
    expect(mem.u32(0x100000)).toBe(0x1badb002);
    expect(boot.kernelEnd).toBeGreaterThan(0x100000 + image.length);
  });

  const cases: [string, Uint8Array, number, string, RegExp][] = [
    ["text", new TextEncoder().encode("hello, not a kernel"), 8 * MiB, "not-elf", /not an ELF file/],
    ["ELF without header", elf({ header: false }), 8 * MiB, "no-header", /no Multiboot header/],
    ["segment above RAM", elf({ paddr: 0x900000 }), 8 * MiB, "outside-ram", /outside RAM \(8 MiB\)/],
    ["unknown required flag", elf({ flags: 0x8 }), 8 * MiB, "unsupported-flags", /unsupported features/],
    ["tiny memory", elf({}), MiB, "memory-too-small", /below the minimum/],
  ];
  it.each(cases)("refuses %s", (_what, image, size, code, message) => {
    const err = (() => {
      try {
        loadMultiboot({ image, cmdline: "k", memorySize: size }, ram(Math.max(size, 2 * MiB)));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(MultibootError);
    expect((err as MultibootError).code).toBe(code);
    expect((err as MultibootError).message).toMatch(message);
  });
});
