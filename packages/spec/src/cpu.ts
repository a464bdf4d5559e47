import type { IoBus } from "./io.js";
import type { InterruptController, IrqLine } from "./irq.js";
import type { PhysicalMemory } from "./memory.js";
import type { Snapshottable } from "./snapshot.js";
import type { AddressTranslation } from "./translation.js";

/** General registers, in the order of their encoding in ModRM (SDM Vol. 2, 2.1.5). */
export const Reg = {
  EAX: 0,
  ECX: 1,
  EDX: 2,
  EBX: 3,
  ESP: 4,
  EBP: 5,
  ESI: 6,
  EDI: 7,
} as const;
export type RegIndex = (typeof Reg)[keyof typeof Reg];

/** Segment registers, in the order of their encoding (SDM Vol. 2, 3.1.1.3 "Sreg"). */
export const Seg = {
  ES: 0,
  CS: 1,
  SS: 2,
  DS: 3,
  FS: 4,
  GS: 5,
  /** The LDTR and TR are segment-like: a selector and a cached descriptor. */
  LDTR: 6,
  TR: 7,
} as const;
export type SegIndex = (typeof Seg)[keyof typeof Seg];

/** EFLAGS bits (SDM Vol. 1, 3.4.3). */
export const Eflags = {
  CF: 1 << 0,
  PF: 1 << 2,
  AF: 1 << 4,
  ZF: 1 << 6,
  SF: 1 << 7,
  TF: 1 << 8,
  IF: 1 << 9,
  DF: 1 << 10,
  OF: 1 << 11,
  IOPL: 3 << 12,
  NT: 1 << 14,
  RF: 1 << 16,
  VM: 1 << 17,
  AC: 1 << 18,
  VIF: 1 << 19,
  VIP: 1 << 20,
  ID: 1 << 21,
} as const;

/** Exception vectors (SDM Vol. 3A, 6.3.1). */
export const Exception = {
  DE: 0,
  DB: 1,
  NMI: 2,
  BP: 3,
  OF: 4,
  BR: 5,
  UD: 6,
  NM: 7,
  DF: 8,
  TS: 10,
  NP: 11,
  SS: 12,
  GP: 13,
  PF: 14,
  MF: 16,
  AC: 17,
  MC: 18,
} as const;

/**
 * A segment register with its hidden part, the descriptor cache (SDM Vol. 3A, 3.4.3).
 * `access` holds descriptor bits 40-47 (type, S, DPL, P) in bits 0-7 and bits 52-55
 * (AVL, L, D/B, G) in bits 12-15, the layout LAR returns shifted right by 8.
 */
export interface SegmentState {
  selector: number;
  base: number;
  /** The byte-granular limit (already scaled when G was set). */
  limit: number;
  access: number;
}

/** GDTR or IDTR. */
export interface TableRegister {
  base: number;
  limit: number;
}

/** Why {@link Cpu.run} returned. */
export type StopReason =
  /** The instruction budget ran out. */
  | "budget"
  /** `until` was reached: EIP equals it before executing the instruction there. */
  | "address"
  /** HLT with interrupts disabled or none pending; the CPU stays halted until INTR or reset. */
  | "halt"
  /** A hook asked to stop ({@link Cpu.requestStop}). */
  | "stop"
  /** Triple fault: the CPU stopped in shutdown (SDM 6.15, #DF); {@link Cpu.shutdownReport} says why. */
  | "shutdown";

/** Options of {@link Cpu.run}. */
export interface RunOptions {
  /** The most instructions to execute (default: unlimited until another stop). */
  instructions?: number;
  /** Stop before executing the instruction at this linear EIP (CS base + EIP). */
  until?: number;
}

/** The kinds of event that reach an interrupt hook. */
export type InterruptKind = "exception" | "software" | "external";

/**
 * Callbacks the embedder installs (Unicorn's hooks). Every hook is optional; the CPU checks
 * for its presence only on the slow paths that can fire it.
 */
export interface CpuHooks {
  /**
   * Before an exception, INT n or external interrupt is delivered through the IDT. Return
   * `true` to say the hook handled it (the CPU then does not deliver it).
   */
  interrupt?(vector: number, errorCode: number, kind: InterruptKind): boolean | undefined;
}

/** What every CPU of this project offers its embedder. */
export interface Cpu<S = unknown> extends Snapshottable<S> {
  /** The INTR pin; the interrupt controller drives it. */
  readonly intr: IrqLine;
  /** The A20M# pin (true = A20 enabled, addresses pass unmasked). */
  readonly a20: IrqLine;
  hooks: CpuHooks;
  /** Instructions retired since reset. */
  readonly instructionCount: number;
  readonly halted: boolean;
  /** Set when the last run ended in "shutdown": a one-line description of the faults. */
  readonly shutdownReport: string | null;

  run(options?: RunOptions): StopReason;
  /** Makes the current {@link run} return "stop" after the current instruction. */
  requestStop(): void;
  /** INIT/RESET: real mode at F000:FFF0, as the SDM's table 9-1 says. */
  reset(): void;

  getReg(reg: RegIndex): number;
  setReg(reg: RegIndex, value: number): void;
  eip: number;
  /** The architectural EFLAGS (the CPU materialises lazily computed flags on read). */
  eflags: number;
  readonly cpl: number;
  getCr(n: 0 | 2 | 3 | 4): number;
  setCr(n: 0 | 2 | 3 | 4, value: number): void;
  getSegment(seg: SegIndex): SegmentState;
  /** Loads a segment register and its descriptor cache as given, with no checks. */
  setSegment(seg: SegIndex, state: SegmentState): void;
  gdtr: TableRegister;
  idtr: TableRegister;
  /** Drops any cached translation (after the embedder changed page tables or the memory map). */
  flushTlb(): void;
}

/** What a CPU is built from: the board's parts, all through contracts. */
export interface CpuParts {
  memory: PhysicalMemory;
  io: IoBus;
  /** Absent means no paging unit: setting CR0.PG then raises #GP. */
  translation?: AddressTranslation;
  /** Absent means INTR is never asserted. */
  interrupts?: InterruptController;
}
