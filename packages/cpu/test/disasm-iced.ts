/**
 * Random encodings checked against iced-x86 (shared by disasm.test.ts and ad-hoc runs).
 * Bytes are drawn with knowledge of the opcode maps: 0-4 prefixes (operand/address size,
 * LOCK, REP/REPNE, segments), a one-byte or 0F opcode, then random ModRM/SIB/displacement/
 * immediate bytes, in 16- and 32-bit code.
 */
import { Code, CpuidFeature, Decoder, DecoderOptions, Instruction, Mnemonic } from "iced-x86";
import { disassemble } from "../src/disasm/index.js";
import { Prng } from "./differential/prng.js";

/** CPUID features of the i686 integer and system ISA; anything else is outside it. */
const I686 = new Set<number>([
  CpuidFeature.INTEL8086,
  CpuidFeature.INTEL186,
  CpuidFeature.INTEL286,
  CpuidFeature.INTEL386,
  CpuidFeature.INTEL486,
  CpuidFeature.CPUID,
  CpuidFeature.CMOV,
  CpuidFeature.CX8,
  CpuidFeature.MSR,
  CpuidFeature.TSC,
  CpuidFeature.RDPMC,
  CpuidFeature.MULTIBYTENOP,
  CpuidFeature.PAUSE,
  CpuidFeature.SMM,
]);

const PREFIXES = [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];
const SLOT = 16;

export interface IcedReport {
  samples: number;
  compared: number;
  skippedInvalid: number;
  /** Valid for iced but needing a feature outside the i686 integer/system ISA, by feature. */
  skippedOutside: Map<string, number>;
  lengthMismatches: string[];
  mnemonicsCompared: number;
  mnemonicMismatches: string[];
}

function sample(rng: Prng, out: Uint8Array, at: number): void {
  let p = at;
  const nPrefixes = rng.pick([0, 0, 0, 1, 1, 2, 3, 4]);
  for (let i = 0; i < nPrefixes; i++) out[p++] = rng.pick(PREFIXES);
  if (rng.chance(0.3)) {
    out[p++] = 0x0f;
    out[p++] = rng.int(256);
  } else {
    let op: number;
    do op = rng.int(256);
    while (op === 0x0f || PREFIXES.includes(op));
    out[p++] = op;
  }
  while (p < at + SLOT) out[p++] = rng.int(256);
}

/** Mnemonic names where iced and this disassembler differ only in spelling. */
const ALIASES: Record<string, string> = { reservednop: "nop" };

export function compareWithIced(seed: number, samples: number, mnemonicEvery = 5): IcedReport {
  const rng = new Prng(seed);
  const report: IcedReport = {
    samples,
    compared: 0,
    skippedInvalid: 0,
    skippedOutside: new Map(),
    lengthMismatches: [],
    mnemonicsCompared: 0,
    mnemonicMismatches: [],
  };
  const chunk = 4096;
  const instr = new Instruction();
  for (let base = 0; base < samples; base += chunk) {
    const n = Math.min(chunk, samples - base);
    const bytes = new Uint8Array(n * SLOT);
    const modes: (16 | 32)[] = [];
    for (let i = 0; i < n; i++) {
      sample(rng, bytes, i * SLOT);
      modes.push(rng.chance(0.3) ? 16 : 32);
    }
    const decoders = {
      16: new Decoder(16, bytes, DecoderOptions.None),
      32: new Decoder(32, bytes, DecoderOptions.None),
    };
    for (let i = 0; i < n; i++) {
      const mode = modes[i];
      const d = decoders[mode];
      d.position = i * SLOT;
      d.ip = 0x1000n;
      d.decodeOut(instr);
      if (instr.code === Code.INVALID) {
        report.skippedInvalid++;
        continue;
      }
      const features = Array.from(instr.cpuidFeatures());
      const outside = features.filter((f) => !I686.has(f));
      if (outside.length > 0) {
        const name = CpuidFeature[outside[0]];
        report.skippedOutside.set(name, (report.skippedOutside.get(name) ?? 0) + 1);
        continue;
      }
      report.compared++;
      const ours = disassemble(bytes.subarray(i * SLOT, i * SLOT + SLOT), 0, mode, 0x1000);
      const hexBytes = () =>
        Array.from(bytes.subarray(i * SLOT, i * SLOT + instr.length), (b) =>
          b.toString(16).padStart(2, "0"),
        ).join(" ");
      if (ours.length !== instr.length) {
        if (report.lengthMismatches.length < 50) {
          report.lengthMismatches.push(
            `${mode}-bit ${hexBytes()}: iced ${instr.length} (${instr.toString()}), ours ${ours.length} (${ours.text})`,
          );
        } else report.lengthMismatches.push("");
        continue;
      }
      if ((base + i) % mnemonicEvery === 0) {
        report.mnemonicsCompared++;
        const icedName = (Mnemonic[instr.mnemonic] ?? "?").toLowerCase();
        const ourName = ours.text.replace(/^(lock |rep |repe |repne )+/, "").split(" ")[0];
        if ((ALIASES[icedName] ?? icedName) !== ourName && report.mnemonicMismatches.length < 50) {
          report.mnemonicMismatches.push(
            `${mode}-bit ${hexBytes()}: iced ${instr.toString()}, ours ${ours.text}`,
          );
        }
      }
    }
    decoders[16].free();
    decoders[32].free();
  }
  instr.free();
  return report;
}
