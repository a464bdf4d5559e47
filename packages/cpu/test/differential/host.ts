/**
 * The native side of the differential test: builds tooling/cpu-harness when needed and runs
 * batches of cases through it (one process per batch, cases streamed on stdin).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CODE_BASE, type Layout, SCRATCH_SIZE, type TestCase } from "./generator.js";

const HARNESS_DIR = fileURLToPath(new URL("../../../../tooling/cpu-harness/", import.meta.url));
const SOURCE = `${HARNESS_DIR}harness.c`;
const BINARY = `${HARNESS_DIR}build/harness`;

export interface HostResult {
  /** Exception vector, or -1 when the code ran to its end. */
  vector: number;
  errorCode: number;
  /** EIP relative to CODE_BASE: the faulting instruction for faults, the next one for traps. */
  eipOffset: number;
  regs: Uint32Array;
  eflags: number;
  /** Selectors of ES CS SS DS FS GS. */
  sregs: Uint16Array;
  /** Scratch dwords that changed: [dword index, value] pairs. */
  diffs: Uint32Array;
}

/** Returns the harness path, building it when missing or stale; a reason string when impossible. */
export function ensureHarness(): { path: string } | { missing: string } {
  const fresh = existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs;
  if (fresh) return { path: BINARY };
  const r = spawnSync("bash", [`${HARNESS_DIR}build.sh`], { encoding: "utf8" });
  if (r.status !== 0) {
    return {
      missing: `cannot build the host harness (gcc -m32: install gcc-multilib): ${r.stderr || r.error}`,
    };
  }
  return { path: BINARY };
}

/**
 * Where the scratch area goes. Below 64 KiB, 16-bit addressing reaches it too; that needs
 * vm.mmap_min_addr <= 0x8000 (Debian's default is 0x10000, so fall back above 64 KiB).
 */
export function chooseLayout(harness: string): Layout {
  let min = 0x10000;
  try {
    min = Number.parseInt(readFileSync("/proc/sys/vm/mmap_min_addr", "utf8"), 10);
  } catch {}
  const r = spawnSync(harness, ["--selectors"], { encoding: "utf8" });
  const [cs, ds, es, ss, fs, gs] = r.stdout
    .trim()
    .split(" ")
    .map((x) => Number.parseInt(x, 16));
  if (r.status !== 0 || !(cs > 0 && ds > 0) || es !== ds || ss !== ds) {
    throw new Error(`host harness: unexpected selectors "${r.stdout.trim()}" ${r.stderr}`);
  }
  const sel = { cs, ds, fs, gs };
  return min <= 0x8000
    ? { scratchBase: 0x8000, addr16: true, sel }
    : { scratchBase: 0x50000, addr16: false, sel };
}

export function encodeCases(cases: readonly TestCase[]): Buffer {
  let size = 4;
  for (const c of cases) size += 4 + c.code.length + 40;
  const buf = Buffer.alloc(size);
  let o = 0;
  for (const c of cases) {
    // Bit 31 of the length selects the 16-bit code segment.
    o = buf.writeUInt32LE((c.code.length | (c.mode === 16 ? 0x80000000 : 0)) >>> 0, o);
    buf.set(c.code, o);
    o += c.code.length;
    for (let i = 0; i < 8; i++) o = buf.writeUInt32LE(c.regs[i], o);
    o = buf.writeUInt32LE(c.eflags >>> 0, o);
    o = buf.writeUInt32LE(c.scratchSeed >>> 0, o);
  }
  buf.writeUInt32LE(0, o);
  return buf;
}

export function runHost(harness: string, layout: Layout, cases: readonly TestCase[]): HostResult[] {
  const r = spawnSync(harness, [layout.scratchBase.toString(16)], {
    input: encodeCases(cases),
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`host harness failed (${r.status}): ${r.stderr?.toString()}`);
  const out = r.stdout;
  const results: HostResult[] = [];
  let o = 0;
  const u = (): number => {
    const v = out.readUInt32LE(o);
    o += 4;
    return v;
  };
  for (let k = 0; k < cases.length; k++) {
    const vector = u();
    const errorCode = u();
    u(); // cr2: no paging faults are generated
    const eipOffset = u();
    const regs = new Uint32Array(8);
    for (let i = 0; i < 8; i++) regs[i] = u();
    const eflags = u();
    const sregs = new Uint16Array(6);
    for (let i = 0; i < 6; i++) sregs[i] = u();
    const n = u();
    const diffs = new Uint32Array(n * 2);
    for (let i = 0; i < n * 2; i++) diffs[i] = u();
    results.push({
      vector: vector === 0xffffffff ? -1 : vector,
      errorCode,
      eipOffset,
      regs,
      eflags,
      sregs,
      diffs,
    });
  }
  if (o !== out.length) throw new Error(`host harness: ${out.length - o} unexpected trailing bytes`);
  return results;
}

export { CODE_BASE, SCRATCH_SIZE };
