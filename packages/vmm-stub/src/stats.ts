import { DataField, IDT_ENTRIES } from "./layout.js";

/** The stub's counters, for `--stats` (claims 7 and 8). */
export interface StubCounters {
  stubHandled: number;
  coreHandled: number;
  worldSwitches: number;
  reflectAborts: number;
  virqDelivered: number;
  stubFaults: number;
  /** Per vector, only the vectors with a nonzero count. */
  stubByVector: Record<number, number>;
  coreByVector: Record<number, number>;
}

/**
 * Reads the counters from the data page; `read32(offset)` reads a dword at a stub-relative
 * offset (from the stub's frames, or through the CPU's memory at base + offset).
 */
export function readStubCounters(read32: (offset: number) => number): StubCounters {
  const stubByVector: Record<number, number> = {};
  const coreByVector: Record<number, number> = {};
  for (let v = 0; v < IDT_ENTRIES; v++) {
    const s = read32(DataField.stubCount + v * 4);
    const c = read32(DataField.coreCount + v * 4);
    if (s !== 0) stubByVector[v] = s;
    if (c !== 0) coreByVector[v] = c;
  }
  return {
    stubHandled: read32(DataField.stubHandled),
    coreHandled: read32(DataField.coreHandled),
    worldSwitches: read32(DataField.worldSwitches),
    reflectAborts: read32(DataField.reflectAborts),
    virqDelivered: read32(DataField.virqDelivered),
    stubFaults: read32(DataField.stubFaults),
    stubByVector,
    coreByVector,
  };
}
