/**
 * `@pagurus/relocator`: where the pagurus monitor's stub (the claims' "first portion") lives
 * in the guest's linear address space, and when it moves. A pure policy over plain data: a
 * page bitmap of what the guest maps, the stub's size, displaced-access counts, a seeded PRNG.
 * No memory, no CPU: vmm-core performs the moves it decides.
 */
export {
  AccessMonitor,
  type AccessMonitorOptions,
  type AccessMonitorState,
  DEFAULT_MONITOR_OPTIONS,
  type MonitorPhase,
  type PeriodHeat,
  type PeriodVerdict,
} from "./monitor.js";
export {
  accessConflict,
  type ChooseRegionOptions,
  type Conflict,
  chooseRegion,
  findConflict,
  type Placement,
  type Region,
  type RegionChoice,
} from "./region.js";
export {
  DEFAULT_RESERVED,
  type RelocationEvent,
  type RelocationReason,
  Relocator,
  type RelocatorOptions,
  type RelocatorState,
  type RelocatorStats,
} from "./relocator.js";
export { SeededRandom, type SeededRandomState } from "./rng.js";
export {
  GuestSpace,
  type GuestSpaceState,
  PAGE_COUNT,
  type PageRange,
  type ReadPhysical32,
  refreshPde,
  spaceFromPageDirectory,
} from "./space.js";
