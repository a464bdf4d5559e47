/**
 * `pnpm bench:cpu` (issue 4, "Speed"; docs/architecture.md section 6): runs the multiboot loop kernel
 * (loop.asm / loop.elf) on Ia32Cpu and on v86 (npm), without and with v86's JIT, in one process,
 * and prints MIPS for each and the ratios. Not a test: numbers depend on the machine.
 *
 *   node --conditions=source --import ./tooling/cpu-harness/register-ts.mjs packages/cpu/bench/bench-cpu.ts [--runs N] [--warmup N] [--json]
 *
 * `--runs N` measured rounds (default 5) after `--warmup N` unmeasured ones (default 1); each
 * round runs all four engines. `--ours-only` skips v86 (for profiling: `node --cpu-prof ...`).
 *
 * Our CPU gets the ELF's PT_LOAD segments copied into RAM and starts at the entry in flat
 * 32-bit protected mode with the Multiboot register contract (EAX = 0x2BADB002), exactly the
 * state v86's multiboot loader sets up; both then execute the same instruction stream until
 * the write to port 0xF4.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Ia32Cpu } from "@pagurus/cpu";
import type { IoBus, PhysicalMemory, RamFastPath, RegIndex, SegIndex } from "@pagurus/spec";

const KERNEL = fileURLToPath(new URL("./loop.elf", import.meta.url));
const RAM_SIZE = 32 << 20;
const args = process.argv.slice(2);
/** The non-negative integer after `--name`, or `fallback` when the flag is absent. */
function option(name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`bench-cpu: ${name} wants a whole number, got "${args[at + 1] ?? ""}"`);
    process.exit(2);
  }
  return value;
}
const runs = Math.max(1, option("--runs", 5));

interface Segment {
  paddr: number;
  offset: number;
  filesz: number;
  memsz: number;
}

/** The PT_LOAD program headers and the entry point of an ELF32 executable. */
function readElf(image: Uint8Array): { entry: number; segments: Segment[] } {
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (v.getUint32(0, false) !== 0x7f454c46) throw new Error("loop.elf is not an ELF file");
  const entry = v.getUint32(24, true);
  const phoff = v.getUint32(28, true);
  const phentsize = v.getUint16(42, true);
  const phnum = v.getUint16(44, true);
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (v.getUint32(p, true) !== 1) continue;
    segments.push({
      offset: v.getUint32(p + 4, true),
      paddr: v.getUint32(p + 12, true),
      filesz: v.getUint32(p + 16, true),
      memsz: v.getUint32(p + 20, true),
    });
  }
  return { entry, segments };
}

/** Plain RAM with the direct fast path for every page, as a board would give the CPU. */
class BenchRam implements PhysicalMemory {
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
    return a + 1 < RAM_SIZE ? this.view.getUint16(a, true) : 0xffff;
  }
  read32(a: number): number {
    return a + 3 < RAM_SIZE ? this.view.getUint32(a, true) : 0xffffffff;
  }
  write8(a: number, v: number): void {
    if (a < RAM_SIZE) this.ram[a] = v;
  }
  write16(a: number, v: number): void {
    if (a + 1 < RAM_SIZE) this.view.setUint16(a, v, true);
  }
  write32(a: number, v: number): void {
    if (a + 3 < RAM_SIZE) this.view.setUint32(a, v, true);
  }
}

interface Result {
  name: string;
  instructions: number;
  /** Wall-clock milliseconds. */
  ms: number;
  /** Process CPU milliseconds (user + system): less disturbed by other load on the machine. */
  cpuMs: number;
  mips: number;
  exit: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Our CPU, interpreting only (`blockThreshold: 0`) or with compiled blocks (the default). */
function runOurs(image: Uint8Array, blocks: boolean): Result {
  const { entry, segments } = readElf(image);
  const memory = new BenchRam();
  for (const s of segments) memory.ram.set(image.subarray(s.offset, s.offset + s.filesz), s.paddr);
  let exit = -1;
  let cpu: Ia32Cpu | null = null;
  const io: IoBus = {
    in8: () => 0xff,
    in16: () => 0xffff,
    in32: () => 0xffffffff,
    out8: (port, value) => {
      if (port === 0xf4) {
        exit = value;
        cpu?.requestStop();
      }
    },
    out16: () => {},
    out32: () => {},
  };
  cpu = new Ia32Cpu({ memory, io }, blocks ? {} : { blockThreshold: 0 });
  cpu.setCr(0, 0x11); // PE, ET: the Multiboot machine state (Multiboot spec 3.2)
  const flat = (selector: number, access: number) => ({ selector, base: 0, limit: 0xffffffff, access });
  cpu.setSegment(1 as SegIndex, flat(0x08, 0xc09b));
  for (const s of [0, 2, 3, 4, 5]) cpu.setSegment(s as SegIndex, flat(0x10, 0xc093));
  cpu.setReg(0 as RegIndex, 0x2badb002);
  cpu.setReg(3 as RegIndex, 0);
  cpu.eflags = 0x2;
  cpu.eip = entry;
  const start = cpu.instructionCount;
  const t0 = performance.now();
  const c0 = cpuNow();
  const stop = cpu.run();
  const cpuMs = cpuNow() - c0;
  const ms = performance.now() - t0;
  if (exit < 0)
    throw new Error(
      `our CPU stopped with "${stop}" before the kernel's exit write (${cpu.shutdownReport ?? ""})`,
    );
  const instructions = cpu.instructionCount - start;
  const name = blocks ? "pagurus + blocks" : "pagurus interp.";
  return { name, instructions, ms, cpuMs, mips: instructions / cpuMs / 1000, exit };
}

interface V86Like {
  add_listener(event: string, fn: () => void): void;
  run(): void;
  stop(): void;
  destroy(): void;
  get_instruction_counter(): number;
  v86: {
    cpu: {
      io: {
        register_write(
          port: number,
          ctx: object,
          w8: (v: number) => void,
          w16?: () => void,
          w32?: () => void,
        ): void;
      };
    };
  };
}

async function runV86(image: Uint8Array, jit: boolean): Promise<Result> {
  const require = createRequire(import.meta.url);
  const main = require.resolve("v86");
  const wasmPath = main.replace(/libv86\.m?js$/, "v86.wasm");
  const { V86 } = (await import("v86")) as unknown as { V86: new (o: object) => V86Like };
  const buffer = image.buffer.slice(image.byteOffset, image.byteOffset + image.byteLength);
  const emulator = new V86({
    wasm_path: wasmPath,
    memory_size: RAM_SIZE,
    vga_memory_size: 2 << 20,
    multiboot: { buffer },
    autostart: false,
    disable_jit: !jit,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
  });
  await new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", () => resolve()));
  const counter0 = emulator.get_instruction_counter();
  let t0 = 0;
  let c0 = 0;
  const result = await new Promise<{ ms: number; cpuMs: number; exit: number }>((resolve) => {
    // v86's own handler for port 0xF4 throws to end its test runs; replace it with one that stops.
    emulator.v86.cpu.io.register_write(0xf4, {}, (value) => {
      const cpuMs = cpuNow() - c0;
      const ms = performance.now() - t0;
      emulator.stop();
      resolve({ ms, cpuMs, exit: value });
    });
    t0 = performance.now();
    c0 = cpuNow();
    emulator.run();
  });
  const instructions = (emulator.get_instruction_counter() - counter0) >>> 0;
  emulator.destroy();
  return {
    name: jit ? "v86 (JIT)" : "v86 (no JIT)",
    instructions,
    ms: result.ms,
    cpuMs: result.cpuMs,
    mips: instructions / result.cpuMs / 1000,
    exit: result.exit,
  };
}

function best(results: Result[]): Result {
  return results.reduce((a, b) => (b.mips > a.mips ? b : a));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const image = new Uint8Array(readFileSync(KERNEL));
const oursOnly = args.includes("--ours-only");
// Unmeasured rounds first: V8 compiles our TypeScript on background threads while the first
// run goes (process CPU time counts those threads), and v86 settles its WebAssembly tiers.
// Every engine gets the same warm-up.
const warmup = option("--warmup", 1);
for (let i = 0; i < warmup; i++) {
  runOurs(image, false);
  runOurs(image, true);
  if (oursOnly) continue;
  await runV86(image, false);
  await runV86(image, true);
}
const interpreted: Result[] = [];
const compiled: Result[] = [];
const noJit: Result[] = [];
const withJit: Result[] = [];
for (let i = 0; i < runs; i++) {
  interpreted.push(runOurs(image, false));
  compiled.push(runOurs(image, true));
  if (oursOnly) continue;
  noJit.push(await runV86(image, false));
  withJit.push(await runV86(image, true));
}
if (oursOnly) {
  for (const results of [interpreted, compiled]) {
    const r = best(results);
    console.log(
      `${r.name}: ${r.mips.toFixed(1)} MIPS by CPU time (best of ${runs}: ${results.map((o) => o.mips.toFixed(1)).join(", ")})`,
    );
  }
  process.exit(0);
}
const series = [interpreted, compiled, noJit, withJit];
const rows = series.map(best);
const pad = (s: string, n: number) => s.padEnd(n);
console.log(
  `loop kernel: ${rows[0].instructions} instructions (our count); ${warmup} warm-up round(s), then ${runs} measured rounds`,
);
console.log(
  "MIPS = instructions / process CPU time (best and median of the rounds); wall-clock MIPS of the best round",
);
console.log(
  `${pad("CPU", 18)}${pad("MIPS", 10)}${pad("median", 10)}${pad("wall MIPS", 12)}${pad("cpu ms", 10)}${pad("wall ms", 10)}instructions`,
);
for (const [i, r] of rows.entries()) {
  const wall = r.instructions / r.ms / 1000;
  const cols = [
    pad(r.name, 18),
    pad(r.mips.toFixed(1), 10),
    pad(median(series[i].map((o) => o.mips)).toFixed(1), 10),
    pad(wall.toFixed(1), 12),
    pad(r.cpuMs.toFixed(0), 10),
  ];
  console.log(`${cols.join("")}${pad(r.ms.toFixed(0), 10)}${r.instructions}`);
}
// Like with like: our interpreter against v86's (issue 4's target), our compiled blocks
// (JavaScript generated at run time) against v86's JIT (WebAssembly generated at run time).
// Best against best, and round by round: the two runs of a round sit seconds apart, so they
// share whatever else the machine was doing then.
const interpVsNoJit = rows[0].mips / rows[2].mips;
const blocksVsJit = rows[1].mips / rows[3].mips;
const blocksVsNoJit = rows[1].mips / rows[2].mips;
const perRound = interpreted.map((r, i) => r.mips / noJit[i].mips);
console.log(
  `interpreter: pagurus / v86 no JIT: ${interpVsNoJit.toFixed(2)}x best to best; round by round ${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)}x, median ${median(perRound).toFixed(2)}x (target >= 1.5x)`,
);
console.log(
  `interpreter >= 100 MIPS: ${rows[0].mips >= 100 ? "yes" : "no"} (best ${rows[0].mips.toFixed(1)}, median ${median(interpreted.map((o) => o.mips)).toFixed(1)})`,
);
console.log(`compiled:    pagurus + blocks / v86 JIT: ${blocksVsJit.toFixed(2)}x`);
console.log(`             pagurus + blocks / v86 no JIT: ${blocksVsNoJit.toFixed(2)}x`);
if (args.includes("--json")) console.log(JSON.stringify({ rows, interpVsNoJit, blocksVsJit, blocksVsNoJit }));
process.exit(0);
