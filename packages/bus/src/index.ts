/**
 * `@pagurus/bus`: the physical memory map and the I/O port map of an x86 machine.
 */
export { IoPortMap, type PortClaimInfo, type PortRegistration } from "./io-map.js";
export {
  PhysicalMemoryMap,
  type PhysicalMemoryMapOptions,
  type PhysicalMemoryState,
  type RegionInfo,
  RegionKind,
} from "./memory-map.js";
