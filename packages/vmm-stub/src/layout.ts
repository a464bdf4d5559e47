/**
 * The stub's layout as typed constants: mirrors the `equ`s of stub/stub.asm, and the test
 * "layout" checks every value here against the header table the image carries at offset 0.
 * All offsets are stub-relative: linear address = stub base + offset.
 */

export const PAGE_SIZE = 4096;
/** The stub's size in pages (what the relocator moves, claim 9) and in bytes. */
export const STUB_PAGES = 5;
export const STUB_SIZE = STUB_PAGES * PAGE_SIZE;
export const STUB_MAGIC = 0x54534750; // "PGST"
export const STUB_VERSION = 1;

/** What each page holds (claims 2, 3: code and the structures x86 requires in the guest's space). */
export type StubPageKind = "code" | "entries" | "idt-tss" | "gdt" | "data";
export const STUB_PAGE_KINDS: readonly StubPageKind[] = Object.freeze([
  "code",
  "entries",
  "idt-tss",
  "gdt",
  "data",
]);
/** The pages that hold code only: identical wherever the stub sits (no relocation writes). */
export const CODE_PAGES: readonly number[] = Object.freeze([0, 1]);

export const StubOffset = {
  /** The header table (see {@link STUB_HEADER}) and the common trap code. */
  code: 0x0000,
  /** 256 entry stubs, {@link ENTRY_SIZE} bytes each: vector v's at `entries + v * ENTRY_SIZE`. */
  entries: 0x1000,
  /** The IDT, 256 gates of 8 bytes (SDM Vol. 3A, 6.11). */
  idt: 0x2000,
  /** The stub's 32-bit TSS (SDM Vol. 3A, 7.2.1), 104 bytes, in the IDT's page. */
  tss: 0x2800,
  /** The guest kernel's GDT, {@link GDT_ENTRIES} descriptors: guest slots with DPL raised to 3. */
  gdt: 0x3000,
  /** The guest user's GDT: the same slots with the guest's own DPLs, the same monitor descriptors. */
  gdtUser: 0x3800,
  /** The data page: {@link DataField} and counters, then the stub's stack. */
  data: 0x4000,
  /** Where the trap code starts (every entry stub jumps here). */
  commonEntry: 0x108,
  /** The host-call `OUT DX, EAX` (claim 8): EIP is this while vmm-core runs. */
  hostCall: 0x89a,
  /** The instruction after the host call. */
  hostReturn: 0x89b,
  /** The path back to the guest (pending virtual interrupt, guest CR3, IRET). */
  resume: 0x815,
  /** The saved guest state frame, {@link FrameField}: always here for a trap from the guest. */
  frame: 0x4fb4,
  /** TSS.ESP0: the top of the stub's stack (relative to SS0 = the monitor's data segment). */
  stackTop: 0x5000,
} as const;

export const ENTRY_SIZE = 16;
export const TSS_SIZE = 104;
export const IDT_ENTRIES = 256;
export const IDT_LIMIT = IDT_ENTRIES * 8 - 1;
export const GDT_ENTRIES = 256;
export const GDT_LIMIT = GDT_ENTRIES * 8 - 1;
/**
 * GDT slots 0 .. GUEST_GDT_SLOTS-1 are the guest's: the core copies guest descriptor i to slot i
 * with compressed privilege (DPL 0 -> the ring the guest kernel runs in), so guest selectors
 * work unchanged. A guest GDT with more entries needs the core to emulate the rest.
 */
export const GUEST_GDT_SLOTS = 252;

/** The monitor's own selectors (ring 0, after the guest's slots). */
export const Selector = {
  /** Code, base = stub base, limit = stub size: the IDT gates' CS. */
  monitorCode: 0x7e0,
  /** Data and stack, base = stub base: DS and SS0 of the stub. */
  monitorData: 0x7e8,
  /** Flat data, base 0, 4 GiB: how the stub reaches guest memory. Never rebased. */
  monitorFlat: 0x7f0,
  /** The stub's TSS, base = stub base + {@link StubOffset.tss}: load TR with it. */
  monitorTss: 0x7f8,
} as const;

/** The selectors whose descriptor base is the stub's (they move with it). */
export const REBASED_SELECTORS: readonly number[] = Object.freeze([
  Selector.monitorCode,
  Selector.monitorData,
  Selector.monitorTss,
]);

/**
 * Fields of the data page, stub-relative offsets of little-endian dwords. "core" says who
 * writes it: the core sets it up; the stub only reads it. Counters are written by the stub.
 */
export const DataField = {
  /** Where the stub is; written by {@link relocate}'s writes (informational). */
  stubBase: 0x4000,
  /** core: the VMM page directory (claim 4); the stub loads it for a world switch. 0 = no switch. */
  vmmCr3: 0x4004,
  /** core: the shadow page directory the guest runs on at virtual CPL 0. 0 = leave CR3 alone. */
  shadowCr3Kernel: 0x4008,
  /** core: the same for virtual CPL 3 (may equal the kernel one). */
  shadowCr3User: 0x400c,
  /** core: the I/O port of the host call, routed by the machine to vmm-core. */
  hostCallPort: 0x4010,
  /** core/stub: the guest's virtual CPL (0 = guest kernel, 3 = guest user). */
  vcpl: 0x4014,
  /** core: the ring the guest's kernel really runs in (3 by default; 1 possible). */
  guestRpl: 0x4018,
  /** core/stub: the guest's virtual EFLAGS.IF (0x200) and IOPL (0x3000). */
  vflags: 0x401c,
  /** core: a virtual interrupt vector to deliver once the guest's IF is 1; 0xFFFFFFFF = none. */
  pendingVector: 0x4020,
  /** core: the guest's LIDT operand (its virtual IDTR). */
  guestIdtrBase: 0x4024,
  guestIdtrLimit: 0x4028,
  /** core: the guest's LGDT operand (its virtual GDTR). */
  guestGdtrBase: 0x402c,
  guestGdtrLimit: 0x4030,
  /** core: linear base of the guest's TSS (its LTR), for SS0:ESP0. 0 = none. */
  guestTssBase: 0x4034,
  /** stub/core: the guest's virtual CR2 (the stub sets it when it reflects a #PF). */
  guestCr2: 0x4038,
  /** stub: nonzero while the stub touches guest memory (a fault then aborts to the core). */
  guestTouch: 0x403c,
  /** stub: the {@link ExitReason} of the current host call. */
  exitReason: 0x4040,
  /** core: what to do when the host call returns, a {@link CoreRequest}. */
  coreRequest: 0x4044,
  coreRequestVector: 0x4048,
  coreRequestError: 0x404c,
  /** Claim 7: traps the stub handled itself. */
  stubHandled: 0x4050,
  /** Claim 8: traps handed to the core. */
  coreHandled: 0x4054,
  /** World switches (loads of vmmCr3). */
  worldSwitches: 0x4058,
  /** Reflections abandoned because guest memory faulted (then done by the core). */
  reflectAborts: 0x405c,
  /** Pending virtual interrupts the stub delivered. */
  virqDelivered: 0x4060,
  /** Faults inside the stub outside guest accesses (monitor bugs), the last vector and EIP. */
  stubFaults: 0x4064,
  stubFaultVector: 0x4068,
  stubFaultEip: 0x406c,
  /** CR2 at the last #PF taken from the guest. */
  faultCr2: 0x4070,
  /** stub: 0 while the trap itself is being handled, 1 once it is done (see {@link ExitReason}). */
  phase: 0x4074,
  /** stub: the vector a delivery after the trap attempted (pending or core-requested). */
  deliverVector: 0x4078,
  /**
   * core: nonzero while the stub displaces guest pages (claim 10). Its own pages then sit where
   * guest memory is, so it reflects nothing and decodes nothing: every trap goes to the core,
   * which reaches the displaced content through its own address space (claim 11).
   */
  noGuestTouch: 0x407c,
  /**
   * stub: the fault that ended the last guest touch (exit `aborted` or `deliveryFailed`): its
   * vector, error code and CR2, so the core can make that guest page reachable (a #PF on a
   * page the shadow had not filled yet is the usual case).
   */
  touchFaultVector: 0x40a0,
  touchFaultError: 0x40a4,
  touchFaultCr2: 0x40a8,
  /**
   * core: nonzero while the guest's interrupt controller has a request waiting. The stub then
   * leaves STI to the core, which runs it and the instruction in its shadow on the virtual CPU.
   */
  irqWaiting: 0x40ac,
  /**
   * core: the LGDT operands (limit word, base dword) of the guest kernel's and the guest
   * user's GDT; the stub loads the one for the guest's virtual CPL on every way back. Their
   * bases are rewritten when the stub moves ({@link relocate}).
   */
  gdtrKernel: 0x40b0,
  gdtrUser: 0x40b8,
  /** core: 256 bits; bit v set = the stub reflects vector v to the guest itself (claim 7). */
  reflectBitmap: 0x4100,
  /** 256 dwords: stub-handled traps per vector. */
  stubCount: 0x4200,
  /** 256 dwords: core-handled traps per vector. */
  coreCount: 0x4600,
} as const;
export type DataFieldName = keyof typeof DataField;

/** The saved guest state frame at {@link StubOffset.frame}: offsets of dwords (segment selectors in the low 16 bits). */
export const FrameField = {
  gs: 0,
  fs: 4,
  es: 8,
  ds: 12,
  edi: 16,
  esi: 20,
  ebp: 24,
  /** PUSHAD's copy of ESP (the stub's, meaningless; POPAD skips it). */
  espPushad: 28,
  ebx: 32,
  edx: 36,
  ecx: 40,
  eax: 44,
  vector: 48,
  /** The CPU's error code, or 0 for vectors without one. */
  error: 52,
  eip: 56,
  cs: 60,
  eflags: 64,
  esp: 68,
  ss: 72,
} as const;
export const FRAME_SIZE = 76;

/** Why the stub made the host call (the value it OUTs). */
export const ExitReason = {
  /** A trap the stub does not handle (claim 8): privileged instruction, I/O, #PF... */
  trap: 1,
  /** The stub tried to reflect the trap but the guest's gate or TSS does not allow it (the core raises what the guest expects); frame unchanged. */
  reflectFailed: 2,
  /** Guest memory faulted while the stub reflected or decoded the trap: the frame is the original trap, unchanged. */
  aborted: 3,
  /** The stub itself faulted (a monitor bug); it halts after the call. */
  stubFault: 4,
  /**
   * The trap itself is done (the frame is the guest's state after it), but delivering
   * `deliverVector` afterwards failed or faulted: a pending virtual interrupt (then
   * `pendingVector` is still set) or the core's `coreRequest`. The core delivers it itself.
   */
  deliveryFailed: 5,
} as const;
export type ExitReasonCode = (typeof ExitReason)[keyof typeof ExitReason];

/** What the core asks the stub to do when the host call returns ({@link DataField.coreRequest}). */
export const CoreRequest = {
  /** IRET to the (possibly changed) frame. */
  resume: 0,
  /** Deliver `coreRequestVector` through the guest's IDT first (an exception or virtual interrupt). */
  deliver: 1,
  /** Same, pushing `coreRequestError` as the error code. */
  deliverWithError: 2,
} as const;

export const DEFAULT_HOST_CALL_PORT = 0x0f40;

/** Vectors for which the CPU pushes an error code (SDM Vol. 3A, 6.13). */
export const ERROR_CODE_VECTORS: readonly number[] = Object.freeze([8, 10, 11, 12, 13, 14, 17]);

/**
 * The header table at offset 0, in order: the test reads it from the image and compares
 * each value with the constant named here.
 */
export const STUB_HEADER: readonly (readonly [string, number])[] = Object.freeze([
  ["magic", STUB_MAGIC],
  ["version", STUB_VERSION],
  ["size", STUB_SIZE],
  ["pages", STUB_PAGES],
  ["entries", StubOffset.entries],
  ["entrySize", ENTRY_SIZE],
  ["idt", StubOffset.idt],
  ["tss", StubOffset.tss],
  ["gdt", StubOffset.gdt],
  ["gdtEntries", GDT_ENTRIES],
  ["guestGdtSlots", GUEST_GDT_SLOTS],
  ["data", StubOffset.data],
  ["monitorCode", Selector.monitorCode],
  ["monitorData", Selector.monitorData],
  ["monitorFlat", Selector.monitorFlat],
  ["monitorTss", Selector.monitorTss],
  ["frame", StubOffset.frame],
  ["frameSize", FRAME_SIZE],
  ["stackTop", StubOffset.stackTop],
  ["commonEntry", StubOffset.commonEntry],
  ["hostCall", StubOffset.hostCall],
  ["hostReturn", StubOffset.hostReturn],
  ["resume", StubOffset.resume],
  ["defaultHostCallPort", DEFAULT_HOST_CALL_PORT],
  ...(
    [
      "stubBase",
      "vmmCr3",
      "shadowCr3Kernel",
      "shadowCr3User",
      "hostCallPort",
      "vcpl",
      "guestRpl",
      "vflags",
      "pendingVector",
      "guestIdtrBase",
      "guestIdtrLimit",
      "guestGdtrBase",
      "guestGdtrLimit",
      "guestTssBase",
      "guestCr2",
      "guestTouch",
      "exitReason",
      "coreRequest",
      "coreRequestVector",
      "coreRequestError",
      "stubHandled",
      "coreHandled",
      "worldSwitches",
      "reflectAborts",
      "virqDelivered",
      "stubFaults",
      "stubFaultVector",
      "stubFaultEip",
      "faultCr2",
      "phase",
      "deliverVector",
      "noGuestTouch",
      "touchFaultVector",
      "touchFaultError",
      "touchFaultCr2",
      "irqWaiting",
    ] as const
  ).map((name): readonly [string, number] => [`data.${name}`, DataField[name]]),
  ["gdtUser", StubOffset.gdtUser],
  ...(["gdtrKernel", "gdtrUser", "reflectBitmap", "stubCount", "coreCount"] as const).map(
    (name): readonly [string, number] => [`data.${name}`, DataField[name]],
  ),
]);
