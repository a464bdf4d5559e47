/**
 * The emulated side: one `Ia32Cpu` on a flat RAM, set up like the host process the harness
 * runs in: flat 4 GiB segments, CPL 3 (the host runs user code), an IDT whose gates have the
 * DPLs Linux gives them (3 for INT3/INTO, 0 elsewhere) and a TSS without an I/O bitmap, so
 * privileged instructions and INT n fault the same way on both.
 */
import type {
  Cpu,
  CpuParts,
  InterruptKind,
  PhysicalMemory,
  RamFastPath,
  RegIndex,
  SegIndex,
} from "@pagurus/spec";
import { CODE_BASE, type Layout, SCRATCH_SIZE, type TestCase } from "./generator.js";
import { fillScratch } from "./prng.js";

const RAM_SIZE = 1 << 20;
const IDT_BASE = 0xe0000;
const TSS_BASE = 0xe1000;
const GDT_BASE = 0xe2000;
const RING0_STACK = 0xe9000;
const HANDLER = 0xea000;
const LDT_BASE = 0xe3000;
/** LDT entry 0 with RPL 3, as the harness creates it with modify_ldt. */
const CODE16_SEL = 0x07;

/** Physical memory: 1 MiB of RAM with the direct fast path; everything above reads as ones. */
export class FlatRam implements PhysicalMemory {
  readonly ram = new Uint8Array(RAM_SIZE);
  private readonly view = new DataView(this.ram.buffer);
  readonly fastPath: RamFastPath;

  constructor() {
    const direct = new Uint8Array(1 << 20);
    direct.fill(3, 0, RAM_SIZE >>> 12);
    this.fastPath = { ram: this.ram, direct };
  }

  read8(a: number): number {
    return a < RAM_SIZE ? this.ram[a] : 0xff;
  }
  read16(a: number): number {
    return a + 1 < RAM_SIZE ? this.view.getUint16(a, true) : this.read8(a) | (this.read8(a + 1) << 8);
  }
  read32(a: number): number {
    return a + 3 < RAM_SIZE
      ? this.view.getUint32(a, true)
      : (this.read16(a) | (this.read16(a + 2) << 16)) >>> 0;
  }
  write8(a: number, v: number): void {
    if (a < RAM_SIZE) this.ram[a] = v;
  }
  write16(a: number, v: number): void {
    this.write8(a, v & 0xff);
    this.write8(a + 1, (v >>> 8) & 0xff);
  }
  write32(a: number, v: number): void {
    this.write16(a, v & 0xffff);
    this.write16(a + 2, v >>> 16);
  }
}

export interface EmuResult {
  vector: number;
  errorCode: number;
  kind: InterruptKind | null;
  eipOffset: number;
  regs: Uint32Array;
  eflags: number;
  /** Selectors of ES CS SS DS FS GS. */
  sregs: Uint16Array;
  stop: string;
}

export type CpuConstructor = new (parts: CpuParts) => Cpu;

/** Loads `Ia32Cpu` from the package source; the reason as a string while it does not exist yet. */
export async function loadIa32Cpu(): Promise<CpuConstructor | string> {
  const mod = (await import("../../src/index.js")) as Record<string, unknown>;
  const ctor = mod.Ia32Cpu;
  if (typeof ctor !== "function") return "packages/cpu/src/index.ts does not export Ia32Cpu yet";
  return ctor as CpuConstructor;
}

const ERROR_CODE_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17]);
export function hasErrorCode(vector: number): boolean {
  return ERROR_CODE_VECTORS.has(vector);
}

interface Hit {
  vector: number;
  errorCode: number;
  kind: InterruptKind;
  eip: number;
  regs: Uint32Array;
  eflags: number;
  sregs: Uint16Array;
}

const SEG_ORDER = [0, 1, 2, 3, 4, 5] as const; // ES CS SS DS FS GS

export class EmulatedRunner {
  readonly memory = new FlatRam();
  private cpu: Cpu;
  private readonly words: Uint32Array;
  private readonly layout: Layout;
  private readonly Ctor: CpuConstructor;
  private readonly tssSelector: number;
  private readonly ldtSelector: number;
  private hit: Hit | null = null;

  constructor(Ctor: CpuConstructor, layout: Layout) {
    this.Ctor = Ctor;
    this.layout = layout;
    this.words = new Uint32Array(this.memory.ram.buffer, layout.scratchBase, SCRATCH_SIZE / 4);
    const ram = this.memory;
    const { cs, ds, gs } = layout.sel;
    // GDT: 08 ring-0 code, 10 ring-0 data (for delivered INT n), the host's user CS and DS
    // (flat, DPL 3) at the indices of the host's selectors, a data segment where the host has
    // its TLS GS, and the TSS in a free slot.
    const desc = (sel: number, lo: number, hi: number) => {
      ram.write32(GDT_BASE + (sel & ~7), lo);
      ram.write32(GDT_BASE + (sel & ~7) + 4, hi);
    };
    desc(0x08, 0x0000ffff, 0x00cf9b00);
    desc(0x10, 0x0000ffff, 0x00cf9300);
    desc(cs, 0x0000ffff, 0x00cffb00);
    desc(ds, 0x0000ffff, 0x00cff300);
    if (gs) desc(gs, 0x0000ffff, 0x00cff300);
    const used = new Set([1, 2, cs >> 3, ds >> 3, gs >> 3, layout.sel.fs >> 3]);
    let tss = 3;
    while (used.has(tss)) tss++;
    this.tssSelector = tss << 3;
    used.add(tss);
    // The LDT holding the 16-bit code segment needs a GDT descriptor and a non-null LDTR.
    let ldt = tss + 1;
    while (used.has(ldt)) ldt++;
    this.ldtSelector = ldt << 3;
    desc(
      this.ldtSelector,
      ((LDT_BASE & 0xffff) << 16) | 7,
      (LDT_BASE & 0xff000000) | 0x8200 | ((LDT_BASE >>> 16) & 0xff),
    );
    desc(
      this.tssSelector,
      ((TSS_BASE & 0xffff) << 16) | 0x67,
      (TSS_BASE & 0xff000000) | 0x8b00 | ((TSS_BASE >>> 16) & 0xff),
    );
    // IDT: 32-bit interrupt gates to 08:HANDLER, DPL 3 for #BP and #OF as Linux sets them, so
    // INT n through any other gate is #GP(n*8+2) at CPL 3 on both sides.
    for (let v = 0; v < 256; v++) {
      const dpl = v === 3 || v === 4 ? 3 : 0;
      ram.write32(IDT_BASE + v * 8, (0x08 << 16) | (HANDLER & 0xffff));
      ram.write32(IDT_BASE + v * 8 + 4, (HANDLER & 0xffff0000) | 0x8e00 | (dpl << 13));
    }
    // 32-bit TSS: the ring-0 stack for delivered software interrupts, and the I/O map base
    // beyond the limit (no bitmap), so IN/OUT at CPL 3 with IOPL 0 are #GP(0).
    ram.write32(TSS_BASE + 4, RING0_STACK);
    ram.write32(TSS_BASE + 8, 0x10);
    ram.write16(TSS_BASE + 0x66, 0x68);
    // LDT entry 0: the 16-bit code segment (base CODE_BASE, limit 0xFFFF, DPL 3, execute/read).
    ram.write32(LDT_BASE, ((CODE_BASE & 0xffff) << 16) | 0xffff);
    ram.write32(LDT_BASE + 4, (CODE_BASE & 0xff000000) | 0x00fb00 | ((CODE_BASE >>> 16) & 0xff));
    this.cpu = this.createCpu();
  }

  /** A fresh CPU (also after a shutdown, which a CPU leaves only through reset). */
  private createCpu(): Cpu {
    const io = {
      in8: () => 0xff,
      in16: () => 0xffff,
      in32: () => 0xffffffff,
      out8: () => {},
      out16: () => {},
      out32: () => {},
    };
    const cpu = new this.Ctor({ memory: this.memory, io });
    cpu.setCr(0, 0x40011); // PE, ET, and AM as Linux sets it, so EFLAGS.AC alignment checks match
    cpu.setSegment(7 as SegIndex, { selector: this.tssSelector, base: TSS_BASE, limit: 0x67, access: 0x8b });
    cpu.setSegment(6 as SegIndex, { selector: this.ldtSelector, base: LDT_BASE, limit: 7, access: 0x82 });
    cpu.idtr = { base: IDT_BASE, limit: 0x7ff };
    cpu.gdtr = { base: GDT_BASE, limit: 0x7f };
    cpu.hooks = {
      interrupt: (vector, errorCode, kind) => {
        // INT n, INT3 and INTO are let through so that the CPU itself checks the gate (DPL,
        // presence); an exception raised by that check replaces the software interrupt, as on
        // the host. Exceptions are taken here and not delivered.
        if (this.hit === null || this.hit.kind === "software") {
          const regs = new Uint32Array(8);
          for (let i = 0; i < 8; i++) regs[i] = cpu.getReg(i as RegIndex);
          this.hit = {
            vector,
            errorCode,
            kind,
            eip: cpu.eip,
            regs,
            eflags: cpu.eflags,
            sregs: this.selectors(cpu),
          };
        }
        cpu.requestStop();
        return kind !== "software";
      },
    };
    return cpu;
  }

  private selectors(cpu: Cpu): Uint16Array {
    const out = new Uint16Array(6);
    for (let i = 0; i < 6; i++) out[i] = cpu.getSegment(SEG_ORDER[i] as SegIndex).selector;
    return out;
  }

  /**
   * CPL 3 flat segments with the host's selectors; again before every case. Mode 16 runs in the
   * host's LDT code segment: 16-bit, based at CODE_BASE, limit 0xFFFF (the harness's modify_ldt).
   */
  private userSegments(mode: 16 | 32): void {
    const cpu = this.cpu;
    const { cs, ds, fs, gs } = this.layout.sel;
    const seg = (selector: number, access: number) => ({ selector, base: 0, limit: 0xffffffff, access });
    const code = 0xc000 | 0xfb; // G, D, P, DPL 3, code execute/read accessed
    const data = 0xc000 | 0xf3; // G, B, P, DPL 3, data read/write accessed
    if (mode === 16)
      cpu.setSegment(1 as SegIndex, { selector: CODE16_SEL, base: CODE_BASE, limit: 0xffff, access: 0xfb });
    else cpu.setSegment(1 as SegIndex, seg(cs, code));
    for (const s of [0, 2, 3]) cpu.setSegment(s as SegIndex, seg(ds, data));
    // FS and GS are never loaded or used for memory by the generated code, only read.
    cpu.setSegment(4 as SegIndex, fs ? seg(fs, data) : { selector: 0, base: 0, limit: 0, access: 0 });
    cpu.setSegment(5 as SegIndex, gs ? seg(gs, data) : { selector: 0, base: 0, limit: 0, access: 0 });
  }

  private takeHit(): Hit | null {
    return this.hit;
  }

  run(c: TestCase): EmuResult {
    const { memory } = this;
    memory.ram.set(c.code, CODE_BASE);
    this.userSegments(c.mode);
    const cpu = this.cpu;
    const csBase = c.mode === 16 ? CODE_BASE : 0;
    fillScratch(c.scratchSeed, this.words);
    for (let i = 0; i < 8; i++) cpu.setReg(i as RegIndex, c.regs[i]);
    cpu.eflags = c.eflags;
    cpu.eip = CODE_BASE - csBase;
    cpu.flushTlb();
    this.hit = null;
    const stop = cpu.run({ until: CODE_BASE + c.code.length, instructions: 100_000 });
    if (stop === "shutdown" || cpu.halted) this.cpu = this.createCpu();
    const hit = this.takeHit();
    if (hit) {
      return { ...hit, eipOffset: (hit.eip + csBase - CODE_BASE) | 0, stop };
    }
    const regs = new Uint32Array(8);
    for (let i = 0; i < 8; i++) regs[i] = cpu.getReg(i as RegIndex);
    return {
      vector: -1,
      errorCode: 0,
      kind: null,
      eipOffset: (cpu.eip + csBase - CODE_BASE) | 0,
      regs,
      eflags: cpu.eflags,
      sregs: this.selectors(cpu),
      stop,
    };
  }

  /** The scratch area after the last run. */
  scratch(): Uint32Array {
    return this.words;
  }
}
