/**
 * `@pagurus/vmm-core`: the second portion of the pagurus monitor (claims 4, 8, 13, 16): the
 * address spaces (shadow page tables for the guest, the VMM's own page directory), the
 * service of the stub's host calls, emulation of what the deprivileged guest may not do (on a
 * virtual CPU: `@pagurus/cpu`'s own executor, through the spec's contracts), conflict
 * detection, and the moves of the stub that `@pagurus/relocator` decides.
 */
export { FrameAllocator } from "./frames.js";
export { GuestMemoryView } from "./guest-memory.js";
export { type GuestSpaceScan, scanGuestSpace } from "./guest-space.js";
export { GuestTranslation } from "./guest-translation.js";
export {
  KICK_VECTOR,
  Monitor,
  type MonitorOptions,
  type MonitorRelocation,
  type MonitorStats,
  type MonitorStatus,
} from "./monitor.js";
export type { GuestPaging } from "./paging-bits.js";
export { type ShadowFault, ShadowPaging, ShadowView, type StubMapping, translateGuest } from "./shadow.js";
export { VmmAddressSpace } from "./vmm-space.js";
