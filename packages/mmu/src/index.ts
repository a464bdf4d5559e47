/**
 * `@pagurus/mmu`: IA-32 32-bit paging (Intel SDM Vol. 3A, chapter 4.3) as an
 * `AddressTranslation` from `@pagurus/spec`, over any `MemoryBus`.
 */

// The contract's access kinds and error-code bits, re-exported so a user needs one import.
export type { AddressTranslation, MemoryBus, PageWalk } from "@pagurus/spec";
export { PageAccess, PageFaultError } from "@pagurus/spec";
export type { MmuPageWalk, MmuState } from "./mmu.js";
export { Mmu } from "./mmu.js";
