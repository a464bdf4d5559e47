/**
 * Runs a seeded corpus on the host and on the emulated CPU and compares them: all general
 * registers, EFLAGS minus the bits the SDM leaves undefined (flags.ts), the scratch memory, and
 * for faulting cases the exception vector, its error code and EIP.
 */

import { disassemble } from "../../src/disasm/index.js";
import { type CpuConstructor, EmulatedRunner, type EmuResult, hasErrorCode } from "./emulated.js";
import { RF } from "./flags.js";
import { CODE_BASE, EXCLUDED, Generator, type Layout, SCRATCH_SIZE, type TestCase } from "./generator.js";
import { type HostResult, runHost } from "./host.js";
import { fillScratch } from "./prng.js";

const REG_NAMES = ["EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI"];

export interface Mismatch {
  seed: number;
  id: number;
  code: string;
  mode: 16 | 32;
  /** The instructions, disassembled, and the forms of the target ones. */
  forms: string[];
  details: string[];
  testCase?: TestCase;
}

export interface CorpusReport {
  seed: number;
  cases: number;
  /** Target instructions executed on the host (setup MOVs not counted). */
  instructions: number;
  faults: number;
  forms: Map<string, number>;
  mismatches: Mismatch[];
  /** Cases whose first native run was disturbed (reruns agreed with each other, not with it). */
  hostFlakes: string[];
  hostMs: number;
  emuMs: number;
}

function hex(v: number): string {
  return (v >>> 0).toString(16).padStart(8, "0");
}

export function codeHex(c: TestCase): string {
  return Array.from(c.code, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Every instruction of a case, disassembled, with the form of the target ones. */
function describeInsns(c: TestCase): string[] {
  return c.insns.map((i) => {
    const text = disassemble(c.code, i.offset, c.mode, (c.mode === 16 ? 0 : CODE_BASE) + i.offset).text;
    return `+${i.offset.toString(16).padStart(2, "0")} ${text.padEnd(40)}${i.form ? ` [${i.form}]` : ""}`;
  });
}

/** Target instructions the host executed (up to and including a faulting one). */
function executed(c: TestCase, h: HostResult): TestCase["insns"] {
  return c.insns.filter(
    (i) => i.form !== null && (i.offset < h.eipOffset || (h.vector >= 0 && i.offset === h.eipOffset)),
  );
}

export function compareCase(
  seed: number,
  c: TestCase,
  h: HostResult,
  e: EmuResult,
  emuScratch: Uint32Array,
): Mismatch | null {
  const details: string[] = [];
  if (h.vector !== e.vector) {
    details.push(
      `exception: host ${h.vector < 0 ? "none" : `#${h.vector}`}, cpu ${e.vector < 0 ? `none (stop: ${e.stop})` : `#${e.vector}`}`,
    );
  } else if (h.vector >= 0 && hasErrorCode(h.vector) && h.errorCode !== e.errorCode) {
    details.push(`error code of #${h.vector}: host ${hex(h.errorCode)}, cpu ${hex(e.errorCode)}`);
  }
  if (h.vector < 0 && e.vector < 0 && e.stop !== "address")
    details.push(`cpu stopped with "${e.stop}" before the end`);
  if (h.eipOffset !== e.eipOffset)
    details.push(`EIP: host +${h.eipOffset.toString(16)}, cpu +${e.eipOffset.toString(16)}`);
  const sameVector = h.vector === e.vector;
  if (sameVector) {
    for (let i = 0; i < 8; i++) {
      let mask = 0xffffffff;
      const z = c.zeroSourceDest;
      if (z && h.vector < 0 && z.reg === i && h.eflags & 0x40) mask = ~z.mask;
      if (((h.regs[i] ^ e.regs[i]) & mask) !== 0)
        details.push(`${REG_NAMES[i]}: host ${hex(h.regs[i])}, cpu ${hex(e.regs[i])}`);
    }
    // Undefined flags at the point where execution stopped; RF in a fault's image is what the
    // CPU pushes for the handler (SDM Vol. 3A 17.3.1.1), not state before the instruction.
    let undef = c.undefAfter;
    if (h.vector >= 0) {
      const at = c.insns.find((i) => i.offset === h.eipOffset);
      if (at) undef = at.undefBefore;
      undef |= RF;
    }
    const SEG = ["ES", "CS", "SS", "DS", "FS", "GS"];
    for (let i = 0; i < 6; i++) {
      if (h.sregs[i] !== e.sregs[i])
        details.push(`${SEG[i]}: host ${h.sregs[i].toString(16)}, cpu ${e.sregs[i].toString(16)}`);
    }
    const diff = (h.eflags ^ e.eflags) & ~undef;
    if (diff !== 0)
      details.push(
        `EFLAGS: host ${hex(h.eflags)}, cpu ${hex(e.eflags)} (differ ${hex(diff)}, undefined ${hex(undef)})`,
      );
    const expected = new Uint32Array(SCRATCH_SIZE / 4);
    fillScratch(c.scratchSeed, expected);
    for (let i = 0; i < h.diffs.length; i += 2) expected[h.diffs[i]] = h.diffs[i + 1];
    let shown = 0;
    for (let i = 0; i < expected.length; i++) {
      if (expected[i] !== emuScratch[i]) {
        if (shown++ < 4)
          details.push(
            `memory scratch+${(i * 4).toString(16)}: host ${hex(expected[i])}, cpu ${hex(emuScratch[i])}`,
          );
      }
    }
    if (shown > 4) details.push(`... ${shown - 4} more differing dwords`);
  }
  if (details.length === 0) return null;
  return {
    seed,
    id: c.id,
    mode: c.mode,
    code: codeHex(c),
    forms: describeInsns(c),
    details,
  };
}

export interface CorpusOptions {
  seed: number;
  /** Stop once this many target instructions have executed. */
  instructions: number;
  layout: Layout;
  harness: string;
  /** Null runs the host side only (the harness self-check). */
  cpu: CpuConstructor | null;
  batch?: number;
  onBatch?: (r: CorpusReport) => void;
  maxMismatches?: number;
}

function emptyReport(seed: number): CorpusReport {
  return {
    seed,
    cases: 0,
    instructions: 0,
    faults: 0,
    forms: new Map(),
    mismatches: [],
    hostFlakes: [],
    hostMs: 0,
    emuMs: 0,
  };
}

function sameHost(a: HostResult, b: HostResult): boolean {
  const eq = (x: ArrayLike<number>, y: ArrayLike<number>) =>
    x.length === y.length && Array.from(x).every((v, i) => v === y[i]);
  return (
    a.vector === b.vector &&
    a.errorCode === b.errorCode &&
    a.eipOffset === b.eipOffset &&
    a.eflags === b.eflags &&
    eq(a.regs, b.regs) &&
    eq(a.sregs, b.sregs) &&
    eq(a.diffs, b.diffs)
  );
}

/** Runs `cases` on the host and (when given) on the CPU, adding counts and mismatches to `report`. */
function runBatch(
  report: CorpusReport,
  cases: readonly TestCase[],
  o: { harness: string; layout: Layout; maxMismatches?: number; limit?: number },
  runner: EmulatedRunner | null,
): void {
  let t = performance.now();
  const host = runHost(o.harness, o.layout, cases);
  report.hostMs += performance.now() - t;
  t = performance.now();
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k];
    const h = host[k];
    const ran = executed(c, h);
    report.cases++;
    report.instructions += ran.length;
    if (h.vector >= 0) report.faults++;
    for (const i of ran) report.forms.set(i.form!, (report.forms.get(i.form!) ?? 0) + 1);
    if (runner) {
      let m: Mismatch | null;
      try {
        m = compareCase(report.seed, c, h, runner.run(c), runner.scratch());
        if (m) {
          // Rare host disturbances (a context switch reloading a null ES as 0) are not CPU
          // bugs: run the case natively twice more; if both reruns agree with each other and
          // not with the first run, the first run was disturbed, and the reruns decide.
          const [r1, r2] = runHost(o.harness, o.layout, [c, c]);
          if (sameHost(r1, r2) && !sameHost(r1, h)) {
            report.hostFlakes.push(`seed ${report.seed} case ${c.id}: ${m.details[0]}`);
            m = compareCase(report.seed, c, r1, runner.run(c), runner.scratch());
          }
        }
      } catch (err) {
        m = {
          seed: report.seed,
          id: c.id,
          mode: c.mode,
          code: codeHex(c),
          forms: describeInsns(c),
          details: [`cpu threw: ${err instanceof Error ? err.message : String(err)}`],
        };
      }
      if (m && report.mismatches.length < (o.maxMismatches ?? 1000))
        report.mismatches.push({ ...m, testCase: c });
    }
    if (o.limit !== undefined && report.instructions >= o.limit) break;
  }
  report.emuMs += performance.now() - t;
}

export function runCorpus(o: CorpusOptions): CorpusReport {
  const gen = new Generator({ layout: o.layout });
  const runner = o.cpu ? new EmulatedRunner(o.cpu, o.layout) : null;
  const report = emptyReport(o.seed);
  const batch = o.batch ?? 4000;
  let id = 0;
  while (report.instructions < o.instructions) {
    const cases: TestCase[] = [];
    for (let i = 0; i < batch; i++) cases.push(gen.generate(o.seed, id++));
    runBatch(report, cases, { ...o, limit: o.instructions }, runner);
    o.onBatch?.(report);
  }
  return report;
}

/** Runs fixed cases (the recorded regressions) the same way. */
export function runCases(
  cases: readonly TestCase[],
  o: { harness: string; layout: Layout; cpu: CpuConstructor },
): CorpusReport {
  const report = emptyReport(0);
  runBatch(report, cases, o, new EmulatedRunner(o.cpu, o.layout));
  return report;
}

// Recorded cases: regressions.json holds cases fuzzing found, in a form independent of the
// generator (which may change), so the committed test keeps checking them.

export interface RecordedCase {
  note: string;
  scratchBase: number;
  mode: 16 | 32;
  code: string;
  regs: number[];
  eflags: number;
  scratchSeed: number;
  insns: [number, number, string | null, number][];
  undefAfter: number;
  zeroSourceDest: { reg: number; mask: number } | null;
}

export function recordCase(c: TestCase, layout: Layout, note: string): RecordedCase {
  return {
    note,
    scratchBase: layout.scratchBase,
    mode: c.mode,
    code: Buffer.from(c.code).toString("hex"),
    regs: Array.from(c.regs),
    eflags: c.eflags,
    scratchSeed: c.scratchSeed,
    insns: c.insns.map((i) => [i.offset, i.length, i.form, i.undefBefore]),
    undefAfter: c.undefAfter,
    zeroSourceDest: c.zeroSourceDest,
  };
}

/** The recorded cases that fit this layout (they embed scratch addresses). */
export function loadRecorded(
  records: readonly RecordedCase[],
  layout: Layout,
): { cases: TestCase[]; skipped: number } {
  const cases: TestCase[] = [];
  let skipped = 0;
  records.forEach((r, id) => {
    if (r.scratchBase !== layout.scratchBase) {
      skipped++;
      return;
    }
    cases.push({
      id,
      mode: r.mode,
      code: Uint8Array.from(Buffer.from(r.code, "hex")),
      regs: Uint32Array.from(r.regs),
      eflags: r.eflags,
      scratchSeed: r.scratchSeed,
      insns: r.insns.map(([offset, length, form, undefBefore]) => ({ offset, length, form, undefBefore })),
      undefAfter: r.undefAfter,
      zeroSourceDest: r.zeroSourceDest,
    });
  });
  return { cases, skipped };
}

/** Forms = distinct (mnemonic form x operand size x addressing) keys the corpus executed. */
export function coverageSummary(r: CorpusReport): string {
  const keys = [...r.forms.keys()].sort();
  return [
    `${r.instructions} instructions in ${r.cases} cases (${r.faults} faulting), ${keys.length} instruction forms covered`,
    ...(r.hostFlakes.length
      ? [`${r.hostFlakes.length} disturbed host runs, decided by reruns: ${r.hostFlakes.join("; ")}`]
      : []),
    `excluded: ${EXCLUDED.map((e) => `\n  - ${e}`).join("")}`,
  ].join("\n");
}

export function formatMismatch(m: Mismatch): string {
  return [
    `seed ${m.seed} case ${m.id}: ${m.code}`,
    ...m.forms.map((f) => `    ${f}`),
    ...m.details.map((d) => `  ${d}`),
  ].join("\n");
}

export { CODE_BASE };
