/**
 * `@pagurus/spec`: the contracts between pagurus machine parts. Types and a few constants
 * only, no behaviour, no dependencies: a CPU, a bus or a device written against these can be
 * combined with parts from anywhere.
 */
export type { Clock, Scheduler, Timer } from "./clock.js";
export type {
  Cpu,
  CpuHooks,
  CpuParts,
  InterruptKind,
  RegIndex,
  RunOptions,
  SegIndex,
  SegmentState,
  StopReason,
  TableRegister,
} from "./cpu.js";
export { Eflags, Exception, Reg, Seg } from "./cpu.js";
export type { EventInjection } from "./injection.js";
export type { IoBus, IoPortHandler } from "./io.js";
export type { InterruptController, IrqLine } from "./irq.js";
export type { AccessSize, MemoryBus, MmioHandler, PhysicalMemory, RamFastPath } from "./memory.js";
export { DirectAccess, PAGE_SHIFT, PAGE_SIZE } from "./memory.js";
export type { Snapshottable } from "./snapshot.js";
export type { AddressTranslation, PageWalk } from "./translation.js";
export { PageAccess, PageFaultError } from "./translation.js";
