import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  AddressTranslation,
  InterruptController,
  IoBus,
  PhysicalMemory,
  RamFastPath,
} from "@pagurus/spec";
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

/** Assembles and returns the bytes with the value of every label (NASM's map file). */
export function assembleWithSymbols(source: string): { bytes: Uint8Array; symbols: Map<string, number> } {
  const dir = mkdtempSync(join(tmpdir(), "pagurus-cpu-"));
  try {
    writeFileSync(join(dir, "t.asm"), `[map symbols ${join(dir, "t.map")}]\n${source}`);
    execFileSync("nasm", ["-f", "bin", "-o", join(dir, "t.bin"), join(dir, "t.asm")], { stdio: "pipe" });
    const symbols = new Map<string, number>();
    for (const line of readFileSync(join(dir, "t.map"), "utf8").split("\n")) {
      const m = /^([0-9A-F]+)\s+([0-9A-F]+)\s+(\S+)$/.exec(line.trim());
      if (m) symbols.set(m[3], Number.parseInt(m[2], 16));
    }
    return { bytes: new Uint8Array(readFileSync(join(dir, "t.bin"))), symbols };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes a segment descriptor (SDM Vol. 3A, 3.4.5): `type` includes S (0x10 for code/data). */
export function writeDescriptor(
  mem: TestMemory,
  at: number,
  base: number,
  limit: number,
  type: number,
  dpl: number,
  flags = 0xc,
  present = true,
): void {
  const big = limit > 0xfffff;
  const l = big ? limit >>> 12 : limit;
  const g = big ? 0x8 : 0;
  const lo = ((base & 0xffff) << 16) | (l & 0xffff);
  const hi =
    ((base >>> 16) & 0xff) |
    ((type & 0x1f) << 8) |
    (dpl << 13) |
    (present ? 0x8000 : 0) |
    (l & 0xf0000) |
    (((flags & 0x7) | g) << 20) |
    (base & 0xff000000);
  mem.w32(at, lo);
  mem.w32(at + 4, hi);
}

/** Writes a gate descriptor: type 0x0E interrupt, 0x0F trap, 0x05 task, 0x0C call gate. */
export function writeGate(
  mem: TestMemory,
  at: number,
  sel: number,
  offset: number,
  type: number,
  dpl: number,
  params = 0,
): void {
  mem.w32(at, (sel << 16) | (offset & 0xffff));
  mem.w32(at + 4, (offset & 0xffff0000) | 0x8000 | (dpl << 13) | (type << 8) | params);
}

export const GDT = 0x500;
export const IDT = 0x800;
export const TSS_A = 0x3000;
export const TSS_B = 0x3100;
export const SEL = {
  code0: 0x08,
  data0: 0x10,
  code3: 0x1b,
  data3: 0x23,
  tssA: 0x28,
  tssB: 0x30,
  code16: 0x38,
  data16: 0x40,
  spare1: 0x48,
  spare2: 0x50,
  spare3: 0x58,
} as const;

export interface SysCpu {
  cpu: Ia32Cpu;
  mem: TestMemory;
  io: TestIo;
  sym: (name: string) => number;
}

/**
 * A protected-mode machine at CPL 0: GDT at 0x500 (flat ring 0 and ring 3 code/data, two
 * 32-bit TSSs, 16-bit code/data), IDT at 0x800 with the given gates, TR = TSS A whose
 * SS0:ESP0 is 0x10:0x9000, code assembled at 0x1000 (32-bit, labels readable via `sym`).
 */
export function sysCpu(
  source: string,
  gates: Record<number, { label: string; type?: number; dpl?: number }> = {},
  options: Ia32CpuOptions = {},
  extra?: Partial<CpuPartsExtra>,
): SysCpu {
  const mem = new TestMemory();
  const io = new TestIo();
  const cpu = new Ia32Cpu({ memory: mem, io, ...extra }, options);
  const { bytes, symbols } = assembleWithSymbols(`bits 32\norg 0x1000\n${source}`);
  mem.load(0x1000, bytes);
  const sym = (name: string): number => {
    const v = symbols.get(name);
    if (v === undefined) throw new Error(`no label ${name}`);
    return v;
  };
  writeDescriptor(mem, GDT + 0x08, 0, 0xffffffff, 0x1b, 0);
  writeDescriptor(mem, GDT + 0x10, 0, 0xffffffff, 0x13, 0);
  writeDescriptor(mem, GDT + 0x18, 0, 0xffffffff, 0x1b, 3);
  writeDescriptor(mem, GDT + 0x20, 0, 0xffffffff, 0x13, 3);
  writeDescriptor(mem, GDT + 0x28, TSS_A, 0x67, 0x0b, 0, 0);
  writeDescriptor(mem, GDT + 0x30, TSS_B, 0x67, 0x09, 0, 0);
  writeDescriptor(mem, GDT + 0x38, 0, 0xffff, 0x1b, 0, 0);
  writeDescriptor(mem, GDT + 0x40, 0, 0xffff, 0x13, 0, 0);
  mem.w32(TSS_A + 4, 0x9000);
  mem.w32(TSS_A + 8, SEL.data0);
  mem.ram[TSS_A + 102] = 0x68; // I/O map base beyond the limit: no bitmap
  for (const [v, g] of Object.entries(gates)) {
    writeGate(mem, IDT + Number(v) * 8, SEL.code0, sym(g.label), g.type ?? 0x0e, g.dpl ?? 0);
  }
  cpu.gdtr = { base: GDT, limit: 0x5f };
  cpu.idtr = { base: IDT, limit: 0x7ff };
  cpu.setCr(0, cpu.getCr(0) | 1);
  cpu.setSegment(Seg.CS, FLAT_CODE);
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) cpu.setSegment(s, FLAT_DATA);
  cpu.setSegment(Seg.TR, { selector: SEL.tssA, base: TSS_A, limit: 0x67, access: 0x8b });
  cpu.eip = 0x1000;
  cpu.setReg(Reg.ESP, 0x8000);
  return { cpu, mem, io, sym };
}

interface CpuPartsExtra {
  translation: AddressTranslation;
  interrupts: InterruptController;
}

/** An interrupt controller that requests one vector until it is acknowledged. */
export class FakePic implements InterruptController {
  pending = false;
  acks = 0;
  constructor(private readonly vector: number) {}
  acknowledge(): number {
    this.acks++;
    this.pending = false;
    return this.vector;
  }
}
