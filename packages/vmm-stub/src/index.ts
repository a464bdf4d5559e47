/**
 * `@pagurus/vmm-stub`: the first portion of the pagurus monitor (claims 2, 3, 14, 15, 26, 27):
 * the x86 code and tables that must live in the guest's linear address space (IDT, GDT, TSS,
 * trap entry code, data page), assembled from stub/stub.asm, with its layout as typed
 * constants and the data writes that move it (claims 1, 9, 10: remap, never copy code).
 */
export {
  compressDescriptor,
  type GuestFrame,
  gdtSlotOffset,
  KERNEL_ONLY_BIT,
  readFrame,
  userDescriptor,
  writeFrame,
} from "./access.js";
export { decodeBase64, stubImage } from "./image.js";
export {
  CODE_PAGES,
  CoreRequest,
  DataField,
  type DataFieldName,
  DEFAULT_HOST_CALL_PORT,
  ENTRY_SIZE,
  ERROR_CODE_VECTORS,
  ExitReason,
  type ExitReasonCode,
  FRAME_SIZE,
  FrameField,
  GDT_ENTRIES,
  GDT_LIMIT,
  GUEST_GDT_SLOTS,
  IDT_ENTRIES,
  IDT_LIMIT,
  PAGE_SIZE,
  REBASED_SELECTORS,
  Selector,
  STUB_HEADER,
  STUB_MAGIC,
  STUB_PAGE_KINDS,
  STUB_PAGES,
  STUB_SIZE,
  STUB_VERSION,
  StubOffset,
  type StubPageKind,
  TSS_SIZE,
} from "./layout.js";
export {
  applyWrites,
  createStubImage,
  descriptorBaseFor,
  readDescriptorBase,
  relocate,
  type StubRelocation,
  type StubWrite,
} from "./relocate.js";
export { readStubCounters, type StubCounters } from "./stats.js";
