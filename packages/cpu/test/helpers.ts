import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IoBus, PhysicalMemory, RamFastPath } from "@pagurus/spec";
import { Reg, Seg } from "@pagurus/spec";
import { Ia32Cpu, type Ia32CpuOptions } from "../src/index.js";

/** Assembles NASM source to a flat binary (tests put `bits`/`org` in the source). */
export function assemble(source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "pagurus-cpu-"));
  try {
    writeFileSync(join(dir, "t.asm"), source);
    execFileSync("nasm", ["-f", "bin", "-o", join(dir, "t.bin"), join(dir, "t.asm")], { stdio: "pipe" });
    return new Uint8Array(readFileSync(join(dir, "t.bin")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Plain RAM from address 0 with the fast path, enough for unit tests (no @pagurus/bus needed). */
export class TestMemory implements PhysicalMemory {
  readonly ram: Uint8Array;
  readonly fastPath: RamFastPath;
  readonly mmioWrites: [number, number][] = [];

  constructor(size = 4 << 20, direct = true) {
    this.ram = new Uint8Array(size);
    const d = new Uint8Array(1 << 20);
    if (direct) d.fill(3, 0, size >>> 12);
    this.fastPath = { ram: this.ram, direct: d };
  }

  private ok(a: number): boolean {
    return a < this.ram.length;
  }
  read8(a: number): number {
    return this.ok(a) ? this.ram[a] : 0xff;
  }
  read16(a: number): number {
    return this.read8(a) | (this.read8(a + 1) << 8);
  }
  read32(a: number): number {
    return (this.read16(a) | (this.read16(a + 2) << 16)) >>> 0;
  }
  write8(a: number, v: number): void {
    if (this.ok(a)) this.ram[a] = v;
    else this.mmioWrites.push([a, v]);
  }
  write16(a: number, v: number): void {
    this.write8(a, v & 0xff);
    this.write8(a + 1, (v >> 8) & 0xff);
  }
  write32(a: number, v: number): void {
    this.write16(a, v & 0xffff);
    this.write16(a + 2, (v >>> 16) & 0xffff);
  }
  load(at: number, bytes: Uint8Array): void {
    this.ram.set(bytes, at);
  }
  r32(a: number): number {
    return (this.ram[a] | (this.ram[a + 1] << 8) | (this.ram[a + 2] << 16) | (this.ram[a + 3] << 24)) >>> 0;
  }
  w32(a: number, v: number): void {
    this.ram[a] = v;
    this.ram[a + 1] = v >> 8;
    this.ram[a + 2] = v >> 16;
    this.ram[a + 3] = v >> 24;
  }
  r16(a: number): number {
    return this.ram[a] | (this.ram[a + 1] << 8);
  }
}

/** Records port writes; reads return `inputs[port]` or all ones. */
export class TestIo implements IoBus {
  readonly writes: [number, number, number][] = [];
  readonly inputs = new Map<number, number>();
  in8(p: number): number {
    return this.inputs.get(p) ?? 0xff;
  }
  in16(p: number): number {
    return this.inputs.get(p) ?? 0xffff;
  }
  in32(p: number): number {
    return this.inputs.get(p) ?? 0xffffffff;
  }
  out8(p: number, v: number): void {
    this.writes.push([p, 1, v]);
  }
  out16(p: number, v: number): void {
    this.writes.push([p, 2, v]);
  }
  out32(p: number, v: number): void {
    this.writes.push([p, 4, v]);
  }
}

export const FLAT_CODE = { selector: 0x08, base: 0, limit: 0xffffffff, access: 0xc09b };
export const FLAT_DATA = { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc093 };

/** A CPU in flat 32-bit protected mode (no GDT needed: caches loaded directly), code at 0x1000. */
export function flatCpu(
  source: string,
  options: Ia32CpuOptions = {},
): { cpu: Ia32Cpu; mem: TestMemory; io: TestIo } {
  const mem = new TestMemory();
  const io = new TestIo();
  const cpu = new Ia32Cpu({ memory: mem, io }, options);
  cpu.setCr(0, cpu.getCr(0) | 1);
  cpu.setSegment(Seg.CS, FLAT_CODE);
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) cpu.setSegment(s, FLAT_DATA);
  mem.load(0x1000, assemble(`bits 32\norg 0x1000\n${source}`));
  cpu.eip = 0x1000;
  cpu.setReg(Reg.ESP, 0x80000);
  return { cpu, mem, io };
}

/** A CPU just after reset with `source` (16-bit) at 0000:7C00 in real mode. */
export function realCpu(source: string): { cpu: Ia32Cpu; mem: TestMemory; io: TestIo } {
  const mem = new TestMemory();
  const io = new TestIo();
  const cpu = new Ia32Cpu({ memory: mem, io });
  mem.load(0x7c00, assemble(`bits 16\norg 0x7c00\n${source}`));
  cpu.setSegment(Seg.CS, { selector: 0, base: 0, limit: 0xffff, access: 0x9b });
  cpu.eip = 0x7c00;
  cpu.setReg(Reg.ESP, 0x7000);
  return { cpu, mem, io };
}
