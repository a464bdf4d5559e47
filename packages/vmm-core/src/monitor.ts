import {
  chooseRegion,
  GuestSpace,
  type RelocationEvent,
  Relocator,
  type RelocatorStats,
  SeededRandom,
} from "@pagurus/relocator";
import {
  type Cpu,
  Eflags,
  type EventInjection,
  type InterruptController,
  type IoPortHandler,
  type PhysicalMemory,
  Reg,
  type RegIndex,
  Seg,
  type SegIndex,
  type SegmentState,
} from "@pagurus/spec";
import {
  CoreRequest,
  compressDescriptor,
  DataField,
  DEFAULT_HOST_CALL_PORT,
  ExitReason,
  FrameField,
  GUEST_GDT_SLOTS,
  gdtSlotOffset,
  REBASED_SELECTORS,
  readStubCounters,
  relocate,
  Selector,
  STUB_PAGES,
  type StubCounters,
  StubOffset,
  stubImage,
  userDescriptor,
} from "@pagurus/vmm-stub";
import { FrameAllocator } from "./frames.js";
import { rescanSlots, scanGuestSpace } from "./guest-space.js";
import type { GuestTranslation } from "./guest-translation.js";
import { CR0_PE, CR0_PG, CR0_WP, type GuestPaging } from "./paging-bits.js";
import { ShadowPaging, ShadowView, type StubMapping, translateGuest } from "./shadow.js";
import { VmmAddressSpace } from "./vmm-space.js";

const PAGE = 4096;
/** In a descriptor's high dword: the S bit (code or data) and the type's accessed bit. */
const DESCRIPTOR_S = 1 << 12;
const DESCRIPTOR_ACCESSED = 1 << 8;
const DESCRIPTOR_S_ACCESSED = DESCRIPTOR_S | DESCRIPTOR_ACCESSED;
const NO_VECTOR = 0xffffffff;
/**
 * The vector the machine's interrupt line uses to get the stub's attention when a virtual
 * interrupt is waiting (vector 31 is reserved by Intel: no exception uses it, and its gate
 * has DPL 0, so a guest INT 31 is a #GP the core emulates, never confused with the kick).
 */
export const KICK_VECTOR = 31;

/** What the app gives the monitor: the machine, the virtual CPU and the monitor's memory. */
export interface MonitorOptions {
  /** The machine's CPU, created with `virtualizationAssist` so sensitive instructions trap. */
  machine: Cpu;
  /** Host-physical memory: guest RAM at `[0, guestRamSize)`, the monitor's frames above. */
  memory: PhysicalMemory;
  /** The virtual CPU: the guest's architectural state; its translation is `guestTranslation`. */
  guest: Cpu & EventInjection;
  guestTranslation: GuestTranslation;
  /** The guest's virtual interrupt controller (its PIC), for the INTA cycle. */
  guestInterrupts: InterruptController;
  guestRamSize: number;
  /** Host-physical frames that belong to the monitor (claim 4). */
  monitorBase: number;
  monitorSize: number;
  /** Seeds the relocator's random choices (claims 10, 12). */
  seed?: number;
  hostCallPort?: number;
  /** Machine instructions per claim-12 period. */
  periodInstructions?: number;
  /** Told about each move as it happens. */
  onRelocation?(event: MonitorRelocation): void;
}

/** A move of the stub, with what it cost (claims 1, 9-12). */
export interface MonitorRelocation extends RelocationEvent {
  /** Wall time the core spent on the move, in microseconds. */
  micros: number;
  /** Stub bytes written to move it (independent of the stub's code size). */
  bytesWritten: number;
  /** Page-table entries written (the stub's pages in every shadow and the VMM space). */
  mappingsWritten: number;
}

/** How the guest stands after the monitor's last service. */
export type MonitorStatus = "running" | "halted" | "shutdown" | "fault";

/** Counters for `--stats` (docs/architecture.md section 5). */
export interface MonitorStats {
  stub: StubCounters;
  /** Host calls the core serviced. */
  hostCalls: number;
  /** Instructions the core ran on the virtual CPU on the guest's behalf. */
  emulated: number;
  /** #PFs that only filled a shadow entry. */
  hiddenFaults: number;
  /** #PFs handed to the guest. */
  guestFaults: number;
  /** Events that could put guest memory where the stub is (claim 5): CR writes, page-table writes, LGDT/LIDT, stub-page faults. */
  conflictChecks: number;
  /** Of those, how many found a conflict (claim 1). */
  conflicts: number;
  relocator: RelocatorStats;
  relocations: MonitorRelocation[];
  /** Guest accesses to displaced content performed by the core (claim 11). */
  displacedAccessesServed: number;
  stubBase: number;
  shadowFrames: number;
  monitorFramesPeak: number;
}

const SEGMENTS: readonly SegIndex[] = [Seg.ES, Seg.CS, Seg.SS, Seg.DS, Seg.FS, Seg.GS];
const FRAME_SEGMENT: Record<number, number> = {
  [Seg.ES]: FrameField.es,
  [Seg.CS]: FrameField.cs,
  [Seg.SS]: FrameField.ss,
  [Seg.DS]: FrameField.ds,
  [Seg.FS]: FrameField.fs,
  [Seg.GS]: FrameField.gs,
};
const FRAME_REG: readonly [RegIndex, number][] = [
  [Reg.EAX, FrameField.eax],
  [Reg.ECX, FrameField.ecx],
  [Reg.EDX, FrameField.edx],
  [Reg.EBX, FrameField.ebx],
  [Reg.ESP, FrameField.esp],
  [Reg.EBP, FrameField.ebp],
  [Reg.ESI, FrameField.esi],
  [Reg.EDI, FrameField.edi],
];
const VIRTUAL_FLAGS = Eflags.IF | Eflags.IOPL;
const CR4_TSD = 1 << 2;
/** `wallClock.now()` where there is one (browsers, Node), else `Date.now()`: ES has no finer clock. */
const wallClock: { now(): number } = (globalThis as { performance?: { now(): number } }).performance ?? Date;

/**
 * The core: the second portion of the monitor (claims 4, 8, 13, 16). It lives in its own
 * address space, services the stub's host calls, emulates what the guest may not do
 * deprivileged on the virtual CPU, keeps the shadow page tables, watches every event that
 * could put the guest where the stub sits, and moves the stub when it must.
 */
export class Monitor {
  readonly frames: FrameAllocator;
  readonly shadow: ShadowPaging;
  readonly vmm: VmmAddressSpace;
  readonly relocator: Relocator;
  /** The I/O port handler the app routes the host-call port to (claim 8). */
  readonly hostCallHandler: IoPortHandler;
  /** The machine CPU's interrupt controller: the kick for a waiting virtual interrupt. */
  readonly machineInterrupts: InterruptController;
  readonly hostCallPort: number;

  private readonly machine: Cpu;
  private readonly memory: PhysicalMemory;
  private readonly guest: Cpu & EventInjection;
  private readonly guestTranslation: GuestTranslation;
  private readonly guestInterrupts: InterruptController;
  private readonly guestRamSize: number;
  private readonly stubFrames: number[] = [];
  private readonly space = new GuestSpace();
  private readonly periodInstructions: number;
  private readonly onRelocation: ((event: MonitorRelocation) => void) | undefined;
  private stubBase = 0;
  private placed = false;
  private callPending = false;
  private kickAcknowledged = false;
  private kickRaised = false;
  private statusValue: MonitorStatus = "running";
  private emulatingValue = false;
  private faultMessage: string | null = null;
  private sinceLastPeriod = 0;
  /** An exception the core asked the stub to deliver, until the stub confirms by resuming. */
  private requested: { vector: number; error: number } | null = null;
  /** The guest's own descriptor behind each stub GDT slot (the stub holds it compressed). */
  private readonly slotGuest: (readonly [number, number] | null)[] = new Array(GUEST_GDT_SLOTS).fill(null);
  /** What each slot was last written from, two dwords a slot (followGuestGdt compares). */
  private readonly slotCopied = new Uint32Array(GUEST_GDT_SLOTS * 2);
  /** Slots copied from a guest descriptor whose accessed bit was clear (see propagateAccessed). */
  private readonly unaccessedSlots = new Set<number>();
  private readonly moves: MonitorRelocation[] = [];
  private counters = {
    hostCalls: 0,
    emulated: 0,
    hiddenFaults: 0,
    guestFaults: 0,
    conflictChecks: 0,
    conflicts: 0,
    displacedAccessesServed: 0,
  };

  constructor(options: MonitorOptions) {
    this.machine = options.machine;
    this.memory = options.memory;
    this.guest = options.guest;
    this.guestTranslation = options.guestTranslation;
    this.guestInterrupts = options.guestInterrupts;
    this.guestRamSize = options.guestRamSize;
    this.hostCallPort = options.hostCallPort ?? DEFAULT_HOST_CALL_PORT;
    this.periodInstructions = options.periodInstructions ?? 200_000;
    this.onRelocation = options.onRelocation;
    if (options.monitorBase < options.guestRamSize) {
      throw new RangeError("the monitor's frames must lie above the guest's RAM");
    }
    this.frames = new FrameAllocator(options.memory, options.monitorBase, options.monitorSize);
    this.shadow = new ShadowPaging(options.memory, this.frames, options.guestRamSize);
    this.vmm = new VmmAddressSpace(options.memory, this.frames);

    // Claim 2/3: the first portion's bytes, in frames of the monitor's.
    const image = stubImage();
    for (let page = 0; page < STUB_PAGES; page++) {
      const frame = this.frames.allocate();
      this.stubFrames.push(frame);
      for (let i = 0; i < PAGE; i++) this.memory.write8(frame + i, image[page * PAGE + i]);
    }

    // Where the stub starts: the highest region the guest's initial space leaves unused.
    scanGuestSpace(this.memory, this.guestPaging(), this.guestRamSize, this.space);
    const first = chooseRegion(this.space, {
      pages: STUB_PAGES,
      rng: new SeededRandom(options.seed ?? 1),
      placement: "highest",
      reserved: [
        { first: 0, count: 1 },
        { first: 0xfffff, count: 1 },
      ],
    });
    this.relocator = new Relocator({ stubPages: STUB_PAGES, base: first.base, seed: options.seed ?? 1 });

    this.hostCallHandler = {
      read: () => 0xffffffff,
      write: () => {
        // The stub's OUT: let the machine finish the instruction and stop; the app then
        // calls service() with the CPU at an instruction boundary (EIP = host return).
        this.callPending = true;
        this.machine.requestStop();
      },
    };
    const monitor = this;
    this.machineInterrupts = {
      // Evaluated at every machine instruction boundary while the kick line is high: the guest
      // takes an interrupt only where its own (virtual) IF allows, as it would bare.
      get pending() {
        return monitor.kickRaised && (monitor.readData(DataField.vflags) & Eflags.IF) !== 0;
      },
      acknowledge() {
        monitor.kickAcknowledged = true;
        return KICK_VECTOR;
      },
    };
  }

  get status(): MonitorStatus {
    return this.statusValue;
  }

  /** Why the status is "fault" or "shutdown". */
  get message(): string | null {
    return this.faultMessage;
  }

  get hostCallWaiting(): boolean {
    return this.callPending;
  }

  /** Where the stub is now (a linear address in the guest's space and the VMM's). */
  get base(): number {
    return this.stubBase;
  }

  /**
   * Takes over a guest whose state is in the virtual CPU (as a loader left it): maps the
   * stub, builds the address spaces, and points the machine CPU at the stub's way back to the
   * guest, so the guest's first instruction is entered through the stub's own IRET.
   */
  start(): void {
    this.place(this.relocator.base);
    this.writeData(DataField.vmmCr3, this.vmm.cr3);
    this.writeData(DataField.hostCallPort, this.hostCallPort);
    this.writeData(DataField.guestRpl, 3);
    this.writeData(DataField.pendingVector, NO_VECTOR);
    // The kick must come to the core, never be reflected as if the guest had done INT 31.
    const bitmapWord = DataField.reflectBitmap + (KICK_VECTOR >>> 5) * 4;
    this.writeData(bitmapWord, this.readData(bitmapWord) & ~(1 << (KICK_VECTOR & 31)));
    this.refillGuestSlots();
    this.syncOut();

    const m = this.machine;
    m.setCr(4, 0);
    m.setCr(3, this.vmm.cr3);
    m.setCr(0, CR0_PE | CR0_PG | CR0_WP | 0x10);
    const reloc = relocate(this.stubBase);
    m.gdtr = reloc.gdtr;
    m.idtr = reloc.idtr;
    m.setSegment(Seg.TR, {
      selector: Selector.monitorTss,
      base: this.stubBase + StubOffset.tss,
      limit: 103,
      access: 0x8b,
    });
    m.setSegment(Seg.LDTR, { selector: 0, base: 0, limit: 0, access: 0 });
    const code = {
      selector: Selector.monitorCode,
      base: this.stubBase,
      limit: STUB_PAGES * PAGE - 1,
      access: 0x409b,
    };
    const data = {
      selector: Selector.monitorData,
      base: this.stubBase,
      limit: STUB_PAGES * PAGE - 1,
      access: 0x4093,
    };
    const flat = { selector: Selector.monitorFlat, base: 0, limit: 0xffffffff, access: 0xc093 };
    m.setSegment(Seg.CS, code);
    m.setSegment(Seg.SS, data);
    m.setSegment(Seg.DS, data);
    m.setSegment(Seg.ES, flat);
    m.setSegment(Seg.FS, flat);
    m.setSegment(Seg.GS, flat);
    m.setReg(Reg.ESP, StubOffset.frame);
    m.setReg(Reg.EBP, StubOffset.frame);
    m.eflags = 0x2;
    m.eip = StubOffset.resume;
    this.mirrorTsd();
    m.flushTlb();
  }

  /**
   * The app calls this after the machine CPU stopped: services the host call (claim 8),
   * then returns what the guest is doing.
   */
  service(): MonitorStatus {
    if (this.callPending) {
      this.callPending = false;
      this.counters.hostCalls++;
      this.hostCall();
      this.followInterruptLines();
    }
    return this.statusValue;
  }

  /** True while the guest runs in real mode, on the virtual CPU alone ({@link emulate}). */
  get emulating(): boolean {
    return this.emulatingValue;
  }

  /**
   * While the guest is in real mode, the app calls this instead of running the machine: the
   * virtual CPU runs the guest (its PIC interrupts it directly) for up to `budget`
   * instructions. Once the guest is back in protected mode, its state goes back to the
   * machine and the guest runs natively again. Returns the instructions run.
   */
  emulate(budget: number): number {
    const before = this.guest.instructionCount;
    const reason = this.guest.run({ instructions: budget });
    const ran = this.guest.instructionCount - before;
    this.counters.emulated += ran;
    if (reason === "halt") this.statusValue = "halted";
    else if (reason === "shutdown") {
      this.statusValue = "shutdown";
      this.faultMessage = this.guest.shutdownReport;
      return ran;
    }
    if ((this.guest.getCr(0) & CR0_PE) !== 0) {
      this.emulatingValue = false;
      this.refillGuestSlots();
      this.syncOut();
      this.guestTablesChanged();
    }
    return ran;
  }

  /**
   * Between machine slices: follows the guest's PIC (the kick line, `irqWaiting`), wakes a
   * halted guest that can take an interrupt, and runs the claim-12 period clock.
   */
  poll(machineInstructions: number): void {
    if (this.statusValue === "shutdown" || this.statusValue === "fault") return;
    if (this.statusValue === "halted") {
      if (this.guestInterrupts.pending && (this.guest.eflags & Eflags.IF) !== 0) this.wake();
    }
    this.followInterruptLines();
    this.sinceLastPeriod += machineInstructions;
    if (this.sinceLastPeriod >= this.periodInstructions) {
      this.sinceLastPeriod = 0;
      this.endPeriod();
    }
  }

  /**
   * The machine's INTR pin and the stub's `irqWaiting` follow the guest's PIC: after every
   * slice (devices moved) and every host call (the guest may have written the PIC).
   */
  private followInterruptLines(): void {
    const waiting = this.guestInterrupts.pending;
    this.writeData(DataField.irqWaiting, waiting ? 1 : 0);
    this.setKick(waiting && this.statusValue === "running");
  }

  /**
   * The guest's A20 gate (port 0x92, the i8042's output port) moved: the machine's stays on
   * and the shadow page tables apply the guest's instead.
   */
  setGuestA20(enabled: boolean): void {
    this.shadow.setA20(enabled);
    this.refreshShadowRoots();
    this.machine.flushTlb();
  }

  stats(): MonitorStats {
    return {
      stub: readStubCounters((offset) => this.readStub(offset)),
      ...this.counters,
      relocator: this.relocator.stats(),
      relocations: this.moves.slice(),
      stubBase: this.stubBase,
      shadowFrames: this.shadow.shadowFrames,
      monitorFramesPeak: this.frames.peakFrames,
    };
  }

  /** The stub's bytes as they are now in its frames (the isolation tests compare code pages). */
  stubBytes(): Uint8Array {
    const out = new Uint8Array(STUB_PAGES * PAGE);
    for (let i = 0; i < out.length; i++) out[i] = this.memory.read8(this.stubFrames[i >>> 12] + (i & 0xfff));
    return out;
  }

  // ---- host calls --------------------------------------------------------------------

  private hostCall(): void {
    this.propagateAccessed();
    const reason = this.readData(DataField.exitReason);
    const vector = this.readFrame(FrameField.vector) & 0xff;
    const error = this.readFrame(FrameField.error);
    if (reason === ExitReason.stubFault) {
      this.fail(
        `monitor stub fault: vector ${this.readData(DataField.stubFaultVector)} at stub offset 0x${this.readData(DataField.stubFaultEip).toString(16)}`,
      );
      return;
    }
    const request = this.requested;
    this.requested = null;
    if (reason === ExitReason.aborted || reason === ExitReason.deliveryFailed) this.learnStubFault();
    if (reason === ExitReason.deliveryFailed) {
      // The trap itself is done; what failed is the delivery the stub attempted after it (a
      // request of the core's, or a pending virtual interrupt): the guest's IDT, TSS or stack
      // is not reachable from the shadow yet. The virtual CPU delivers it, as hardware would.
      const pending = this.readData(DataField.pendingVector);
      if (request !== null) {
        this.onVirtualCpu(() => this.injectGuest(request.vector, request.error, "exception"));
      } else if (pending !== NO_VECTOR) {
        this.writeData(DataField.pendingVector, NO_VECTOR);
        this.onVirtualCpu(() => this.injectGuest(pending, null, "external"));
      }
      return;
    }
    if (vector === KICK_VECTOR && this.kickAcknowledged) {
      // The guest can take an interrupt at this very boundary. The core does the INTA cycle
      // at the guest's PIC (its I/O is the core's) and the stub delivers the vector through
      // the guest's IDT on its way back (claim 7; if it cannot, deliveryFailed comes back).
      this.kickAcknowledged = false;
      if (this.guestInterrupts.pending)
        this.writeData(DataField.pendingVector, this.guestInterrupts.acknowledge());
      return;
    }
    if (vector === 14 && reason === ExitReason.trap) {
      this.pageFault(error);
      return;
    }
    this.trap(vector, error);
  }

  /** Everything but #PF and the kick: emulate the faulting instruction, or give the guest its exception. */
  private trap(vector: number, error: number): void {
    if (vector >= 32) {
      // INT n the stub could not reflect: the frame's EIP is after the instruction; rerun it
      // on the virtual CPU, which makes the guest's own checks (gate DPL, present) and delivery.
      this.onVirtualCpu(() => {
        this.guest.eip = (this.guest.eip - 2) >>> 0;
        this.stepGuest();
      });
      return;
    }
    if (vector === 13) {
      // A privileged or sensitive instruction (virtualizationAssist makes the deprivileged
      // kernel's ones fault, and INT n through a DPL 0 gate of the stub's IDT lands here too),
      // whether the stub left it to the core or gave up on it (aborted, reflect failed): the
      // virtual CPU executes it with the guest's privilege, faulting where the guest would.
      this.onVirtualCpu(() => this.stepGuest());
      return;
    }
    // Another exception the guest caused: deliver it through the guest's IDT.
    const hasError = vector === 8 || (vector >= 10 && vector <= 14) || vector === 17;
    this.onVirtualCpu(() => this.injectGuest(vector, hasError ? error : null, "exception"));
  }

  private pageFault(error: number): void {
    const cr2 = this.readData(DataField.faultCr2);
    const write = (error & 2) !== 0;
    const view = this.readData(DataField.vcpl) === 3 ? ShadowView.User : ShadowView.Kernel;
    const outcome = this.shadow.resolve(cr2, write, this.guestPaging(), view);
    switch (outcome.kind) {
      case "filled":
        this.counters.hiddenFaults++;
        this.refreshShadowRoots();
        return;
      case "guest":
        this.counters.guestFaults++;
        this.writeData(DataField.guestCr2, cr2);
        this.requested = { vector: 14, error: outcome.errorCode };
        this.writeData(DataField.coreRequest, CoreRequest.deliverWithError);
        this.writeData(DataField.coreRequestVector, 14);
        this.writeData(DataField.coreRequestError, outcome.errorCode);
        return;
      case "stub": {
        const page = (cr2 & ~0xfff) >>> 0;
        if (this.relocator.displaced.includes(page)) {
          // Claim 11: the guest touched content the stub displaced: the core performs the
          // access against its own view of that content.
          this.counters.displacedAccessesServed++;
          this.relocator.recordDisplacedAccess();
          this.onVirtualCpu(() => this.stepGuest());
          return;
        }
        // Claim 1: the guest tries to use the stub's region: move the stub out of its way.
        this.checkConflict({ linear: cr2, length: 1 });
        return;
      }
      case "emulate":
      case "unbacked": {
        if (outcome.kind === "emulate" && outcome.reason === "page-table") {
          this.emulateTableWrite(outcome.physical & ~0xfff);
          return;
        }
        if (outcome.kind === "emulate" && outcome.reason === "descriptor-table") {
          this.onVirtualCpu(() => this.stepGuest());
          this.followGuestGdt();
          return;
        }
        this.onVirtualCpu(() => this.stepGuest());
        return;
      }
    }
  }

  /**
   * The stub gave up because a guest page it touched (the guest's stack, IDT or TSS) was not
   * in the kernel shadow yet: fill that entry now, as the hidden fault it is (with the access's
   * own read or write, so the guest's Dirty bits stay a bare machine's), so that the stub's
   * next reflection there succeeds.
   */
  private learnStubFault(): void {
    if (this.readData(DataField.touchFaultVector) !== 14) return;
    const write = (this.readData(DataField.touchFaultError) & 2) !== 0;
    this.shadow.resolve(this.readData(DataField.touchFaultCr2), write, this.guestPaging(), ShadowView.Kernel);
  }

  /**
   * Claim 5: the guest writes one of its own page tables (write-protected in the shadow). The
   * virtual CPU performs the write; the shadow drops what it built from the entries that
   * changed, and the mappings of those slots are checked against the stub.
   */
  private emulateTableWrite(frame: number): void {
    const before = new Uint32Array(1024);
    for (let i = 0; i < 1024; i++) before[i] = this.memory.read32(frame + i * 4);
    this.onVirtualCpu(() => this.stepGuest());
    const slots = this.shadow.tableWritten(frame, before, this.guestPaging());
    if (slots === null) {
      this.guestTablesChanged();
      return;
    }
    rescanSlots(this.memory, this.guestPaging(), this.guestRamSize, this.space, slots);
    this.resolveConflict();
    this.refreshShadowRoots();
  }

  /** Runs `work` on the virtual CPU with the trapped guest state, then writes the result back. */
  private onVirtualCpu(work: () => void): void {
    this.syncIn();
    const before = this.systemState();
    work();
    if (this.statusValue === "fault") return;
    this.syncOut();
    this.afterSystemChange(before);
  }

  /** Delivers an event on the virtual CPU; a delivery that ends in shutdown ends the guest. */
  private opcodeAtGuestEip(): number {
    const cs = this.guest.getSegment(Seg.CS);
    const physical = translateGuest(
      this.memory,
      this.guestPaging(),
      this.guestRamSize,
      (cs.base + this.guest.eip) >>> 0,
    );
    return physical >= 0 && physical < this.guestRamSize ? this.memory.read8(physical) : -1;
  }

  private injectGuest(vector: number, errorCode: number | null, kind: "exception" | "external"): void {
    this.guest.injectEvent(vector, errorCode, kind);
    if (this.guest.shutdownReport !== null) {
      this.statusValue = "shutdown";
      this.faultMessage = this.guest.shutdownReport;
    }
  }

  private stepGuest(): void {
    this.counters.emulated++;
    // STI (and MOV SS) hold interrupts off for one more instruction: run that one too, so
    // that a waiting interrupt comes in after it, as on hardware (SDM Vol. 2, STI).
    const instructions = this.opcodeAtGuestEip() === 0xfb ? 2 : 1;
    const reason = this.guest.run({ instructions });
    if (reason === "halt") this.statusValue = "halted";
    else if (reason === "shutdown") {
      this.statusValue = "shutdown";
      this.faultMessage = this.guest.shutdownReport;
    }
  }

  /** A halted guest with an interrupt it can take: the virtual CPU takes it and wakes. */
  private wake(): void {
    this.statusValue = "running";
    const take = () => {
      if (this.guest.run({ instructions: 0 }) === "halt") this.statusValue = "halted";
    };
    // In real mode the virtual CPU holds the guest's state alone: nothing to sync.
    if (this.emulatingValue) take();
    else this.onVirtualCpu(take);
  }

  // ---- state between the machine and the virtual CPU ------------------------------------

  /** The trapped guest state (stub frame, data page) into the virtual CPU. */
  private syncIn(): void {
    const g = this.guest;
    for (const [reg, field] of FRAME_REG) g.setReg(reg, this.readFrame(field));
    g.eip = this.readFrame(FrameField.eip);
    const vflags = this.readData(DataField.vflags);
    const vcpl = this.readData(DataField.vcpl) & 3;
    g.setCr(2, this.readData(DataField.guestCr2));
    for (const seg of SEGMENTS) {
      let selector = this.readFrame(FRAME_SEGMENT[seg]) & 0xffff;
      if (seg === Seg.CS || seg === Seg.SS) selector = (selector & ~3) | vcpl;
      const current = g.getSegment(seg);
      if (current.selector !== selector || (seg === Seg.CS && g.cpl !== vcpl)) {
        g.setSegment(seg, this.virtualDescriptor(selector, current));
      }
    }
    // After CS: setting CS sets the CPL from its RPL.
    // RF is the machine's: it set it in the frame of the fault that brought the guest here
    // (SDM 17.3.1.1); the guest, which took no fault, has it clear.
    g.eflags = (this.readFrame(FrameField.eflags) & ~(VIRTUAL_FLAGS | Eflags.RF)) | (vflags & VIRTUAL_FLAGS);
  }

  /** The virtual CPU's state back into the frame the stub will IRET with. */
  private syncOut(): void {
    const g = this.guest;
    for (const [reg, field] of FRAME_REG) this.writeFrame(field, g.getReg(reg));
    this.writeFrame(FrameField.eip, g.eip);
    const eflags = g.eflags;
    if ((eflags & Eflags.VM) !== 0) {
      this.fail("the guest entered virtual-8086 mode, which the monitor does not run yet");
      return;
    }
    this.writeFrame(FrameField.eflags, ((eflags & ~(VIRTUAL_FLAGS | Eflags.RF)) | Eflags.IF) >>> 0);
    this.writeData(DataField.vflags, eflags & VIRTUAL_FLAGS);
    this.writeData(DataField.vcpl, g.cpl);
    this.writeData(DataField.guestCr2, g.getCr(2));
    for (const seg of SEGMENTS) {
      const state = g.getSegment(seg);
      let selector = state.selector;
      if (seg === Seg.CS || seg === Seg.SS) selector |= 3;
      this.writeFrame(FRAME_SEGMENT[seg], selector);
      this.ensureSlot(state);
    }
    const idtr = g.idtr;
    const gdtr = g.gdtr;
    this.writeData(DataField.guestIdtrBase, idtr.base);
    this.writeData(DataField.guestIdtrLimit, idtr.limit);
    this.writeData(DataField.guestGdtrBase, gdtr.base);
    this.writeData(DataField.guestGdtrLimit, gdtr.limit);
    this.writeData(DataField.guestTssBase, g.getSegment(Seg.TR).base);
    this.refreshShadowRoots();
    this.mirrorTsd();
  }

  /**
   * CR4.TSD makes RDTSC fault at CPL > 0 (SDM Vol. 2, RDTSC). The guest's user code runs at
   * CPL 3 on the machine too, so the machine's TSD follows the guest's: with it set, the
   * guest kernel's RDTSC traps as well and the virtual CPU runs it at the guest's CPL 0.
   */
  private mirrorTsd(): void {
    const tsd = this.guest.getCr(4) & CR4_TSD;
    const cr4 = this.machine.getCr(4);
    if ((cr4 & CR4_TSD) !== tsd) this.machine.setCr(4, (cr4 & ~CR4_TSD) | tsd);
  }

  /** The guest's descriptor for a selector, from what the core put behind the stub's slot. */
  private virtualDescriptor(selector: number, fallback: SegmentState): SegmentState {
    // A null selector loads an unusable segment: accesses through it fault (SDM 3.4.2).
    if ((selector & 0xfffc) === 0) return { selector, base: 0, limit: 0, access: 0 };
    const index = selector >>> 3;
    const guest = (selector & 4) === 0 && index < GUEST_GDT_SLOTS ? this.slotGuest[index] : null;
    // Null or LDT selectors, or a slot never filled: keep the cache, change the selector.
    if (guest === null) return { ...fallback, selector };
    const [lo, hi] = guest;
    let limit = (lo & 0xffff) | (hi & 0xf0000);
    if ((hi & (1 << 23)) !== 0) limit = ((limit << 12) | 0xfff) >>> 0;
    const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
    const access = ((hi >>> 8) & 0xff) | ((hi >>> 8) & 0xf000);
    return { selector, base, limit, access };
  }

  /** Makes the stub GDT slot of a segment's selector hold its descriptor, privilege compressed. */
  private ensureSlot(state: SegmentState): void {
    const index = state.selector >>> 3;
    if ((state.selector & 4) !== 0 || index === 0 || index >= GUEST_GDT_SLOTS) return;
    if ((state.access & 0x80) === 0) return;
    const encoded = encodeDescriptor(state);
    // The guest's own descriptor, if that is what the cache holds: its accessed bit stays the
    // guest's (propagateAccessed).
    const current = this.slotGuest[index];
    if (current?.[0] === encoded[0] && ((current[1] ^ encoded[1]) & ~DESCRIPTOR_ACCESSED) === 0) return;
    this.writeSlot(index, encoded);
  }

  /** Copies the guest's GDT into the stub's guest slots (after LGDT, or at start). */
  private refillGuestSlots(): void {
    const gdtr = this.guest.gdtr;
    const read = this.linearReader(gdtr.base, gdtr.limit + 1);
    const entries = Math.min(GUEST_GDT_SLOTS, (gdtr.limit + 1) >>> 3);
    for (let index = 1; index < GUEST_GDT_SLOTS; index++) {
      if (index >= entries) {
        this.writeSlot(index, null);
        continue;
      }
      this.writeSlot(index, [read(index * 8), read(index * 8 + 4)]);
    }
    for (const seg of SEGMENTS) this.ensureSlot(this.guest.getSegment(seg));
    this.protectGuestGdt();
  }

  /**
   * The guest wrote its GDT (write-protected in the shadows): its descriptors that changed
   * are copied again, so that its next load of one gets what it wrote. A segment register
   * already loaded keeps its cached descriptor, as on hardware (ensureSlot keeps that in the
   * slot, which the stub reloads from).
   */
  private followGuestGdt(): void {
    const gdtr = this.guest.gdtr;
    const read = this.linearReader(gdtr.base, gdtr.limit + 1);
    const entries = Math.min(GUEST_GDT_SLOTS, (gdtr.limit + 1) >>> 3);
    for (let index = 1; index < entries; index++) {
      const lo = read(index * 8);
      const hi = read(index * 8 + 4);
      if (lo === this.slotCopied[index * 2] && hi === this.slotCopied[index * 2 + 1]) continue;
      this.writeSlot(index, [lo, hi]);
    }
    for (const seg of SEGMENTS) this.ensureSlot(this.guest.getSegment(seg));
  }

  /** The frames of the guest's GDT, write-protected in the shadows (followGuestGdt). */
  private protectGuestGdt(): void {
    const frames = new Set<number>();
    const gdtr = this.guest.gdtr;
    const paging = this.guestPaging();
    const end = gdtr.base + gdtr.limit;
    for (let page = gdtr.base - (gdtr.base % PAGE); page <= end; page += PAGE) {
      const physical = translateGuest(this.memory, paging, this.guestRamSize, page >>> 0);
      if (physical >= 0 && physical < this.guestRamSize) frames.add(physical - (physical % PAGE));
    }
    this.shadow.protectDescriptorFrames(frames);
  }

  /**
   * Claim 6: everything the guest runs with is DPL 3 in the machine's GDT. TSS and LDT
   * descriptors and gates stay null there: a guest that uses them traps, and the virtual CPU
   * does what the guest asked.
   */
  private writeSlot(index: number, guest: readonly [number, number] | null): void {
    this.slotCopied[index * 2] = guest === null ? 0 : guest[0];
    this.slotCopied[index * 2 + 1] = guest === null ? 0 : guest[1];
    const [lo, hi] = guest === null ? [0, 0] : compressDescriptor(guest[0], guest[1], 3);
    this.writeStub(gdtSlotOffset(index), lo);
    this.writeStub(gdtSlotOffset(index) + 4, hi);
    // The guest user's GDT keeps the guest's own DPLs: its loads of kernel segments fault.
    const [ulo, uhi] = guest === null ? [0, 0] : userDescriptor(guest[0], guest[1]);
    this.writeStub(gdtSlotOffset(index, true), ulo);
    this.writeStub(gdtSlotOffset(index, true) + 4, uhi);
    this.slotGuest[index] = guest === null || (lo === 0 && hi === 0) ? null : guest;
    if (guest !== null && (guest[1] & DESCRIPTOR_S_ACCESSED) === DESCRIPTOR_S)
      this.unaccessedSlots.add(index);
    else this.unaccessedSlots.delete(index);
  }

  /**
   * A segment load the machine performs from a stub slot sets the accessed bit there, in the
   * monitor's copy (SDM Vol. 3A, 3.4.5.1). The guest's own descriptor must show it too: at
   * every entry to the core (before the guest can observe anything through it), the bit is
   * carried over to the guest's GDT for the few slots copied without it.
   */
  private propagateAccessed(): void {
    if (this.unaccessedSlots.size === 0) return;
    const gdtr = this.guest.gdtr;
    const paging = this.guestPaging();
    for (const index of this.unaccessedSlots) {
      const guest = this.slotGuest[index];
      const kernelHi = this.readStub(gdtSlotOffset(index) + 4);
      const userHi = this.readStub(gdtSlotOffset(index, true) + 4);
      if (guest === null || ((kernelHi | userHi) & DESCRIPTOR_ACCESSED) === 0) continue;
      this.unaccessedSlots.delete(index);
      const hi = (guest[1] | DESCRIPTOR_ACCESSED) >>> 0;
      this.slotGuest[index] = [guest[0], hi];
      if (this.slotCopied[index * 2 + 1] === guest[1] >>> 0) this.slotCopied[index * 2 + 1] = hi;
      const physical = translateGuest(
        this.memory,
        paging,
        this.guestRamSize,
        (gdtr.base + index * 8 + 4) >>> 0,
      );
      if (physical >= 0 && physical + 4 <= this.guestRamSize && this.memory.read32(physical) === guest[1]) {
        this.memory.write32(physical, hi);
      }
    }
  }

  private systemState() {
    const g = this.guest;
    return {
      cr0: g.getCr(0),
      cr3: g.getCr(3),
      cr4: g.getCr(4),
      gdtr: g.gdtr,
      idtr: g.idtr,
    };
  }

  /** Claim 5: after anything that may have changed what the guest maps or where its tables are. */
  private afterSystemChange(before: ReturnType<Monitor["systemState"]>): void {
    const after = this.systemState();
    if ((after.cr0 & CR0_PE) === 0) {
      // Real mode cannot run deprivileged (there is no virtual-8086 mode in the CPU yet): like
      // the monitors of its day, this one interprets it, on the virtual CPU, until the guest
      // turns protection back on (see emulate()).
      this.emulatingValue = true;
      return;
    }
    if (after.cr0 !== before.cr0 || after.cr4 !== before.cr4) {
      this.shadow.flushAll();
      this.guestTablesChanged();
      this.protectGuestGdt();
    } else if (after.cr3 !== before.cr3) {
      this.guestTablesChanged();
      this.protectGuestGdt();
    }
    if (after.gdtr.base !== before.gdtr.base || after.gdtr.limit !== before.gdtr.limit) {
      this.refillGuestSlots();
      this.checkConflict({ linear: after.gdtr.base, length: after.gdtr.limit + 1 });
    }
    if (after.idtr.base !== before.idtr.base || after.idtr.limit !== before.idtr.limit) {
      this.checkConflict({ linear: after.idtr.base, length: after.idtr.limit + 1 });
    }
  }

  /** The guest wrote a page table or switched spaces: rebuild the picture and check it. */
  private guestTablesChanged(): void {
    this.shadow.flushAll();
    this.checkConflict();
    this.refreshShadowRoots();
  }

  private checkConflict(access?: { linear: number; length: number }): void {
    scanGuestSpace(this.memory, this.guestPaging(), this.guestRamSize, this.space);
    this.resolveConflict(access);
  }

  /** Claim 1: asks the relocator whether the guest's space (as scanned) or access hits the stub. */
  private resolveConflict(access?: { linear: number; length: number }): void {
    this.counters.conflictChecks++;
    const event = this.relocator.resolveConflict(this.space, access);
    if (event !== null) {
      this.counters.conflicts++;
      this.move(event);
    }
    this.updateTouchPolicy();
  }

  /**
   * While the stub displaces guest pages (claim 10) its own pages sit where guest memory is:
   * it must not touch guest memory then (it would read or write itself), so every trap comes
   * to the core, which reaches the displaced content through its windows (claim 11).
   */
  private updateTouchPolicy(): void {
    this.writeData(DataField.noGuestTouch, this.relocator.displaced.length > 0 ? 1 : 0);
  }

  private endPeriod(): void {
    scanGuestSpace(this.memory, this.guestPaging(), this.guestRamSize, this.space);
    const event = this.relocator.endPeriod(this.space);
    if (event !== null) this.move(event);
    this.updateTouchPolicy();
  }

  // ---- relocation ----------------------------------------------------------------------

  /** Maps the stub at `base` everywhere and rewrites its base-dependent data. */
  private place(base: number): { bytes: number; mappings: number } {
    const old = this.stubBase;
    const hadOld = this.placed;
    this.placed = true;
    const mappings: StubMapping[] = this.stubFrames.map((frame, page) => ({
      linear: (base + page * PAGE) >>> 0,
      frame,
      // Code, entries, IDT and GDT pages are read-only even for the stub; the GDT page must
      // be writable because the CPU sets busy and accessed bits in it, the data page too.
      writable: page >= 2,
    }));
    // The new place first, then drop the old one (claim 9: the region previously occupied
    // goes back to the guest).
    for (const m of mappings) this.vmm.map(m.linear, m.frame, m.writable);
    if (hadOld) {
      for (let page = 0; page < STUB_PAGES; page++) {
        const linear = (old + page * PAGE) >>> 0;
        if (linear < base || linear >= base + STUB_PAGES * PAGE) this.vmm.unmap(linear);
      }
    }
    this.shadow.setStub(mappings);
    const reloc = relocate(base);
    let bytes = 0;
    for (const w of reloc.writes) {
      for (let i = 0; i < w.size; i++) {
        const offset = w.offset + i;
        this.memory.write8(this.stubFrames[offset >>> 12] + (offset & 0xfff), (w.value >>> (8 * i)) & 0xff);
      }
      bytes += w.size;
    }
    this.stubBase = base;
    // The machine CPU's registers that point into the stub.
    const m = this.machine;
    m.gdtr = reloc.gdtr;
    m.idtr = reloc.idtr;
    for (const seg of [Seg.ES, Seg.CS, Seg.SS, Seg.DS, Seg.FS, Seg.GS, Seg.TR] as const) {
      const state = m.getSegment(seg);
      const rebased = reloc.segmentBases.find((s) => s.selector === (state.selector & 0xfff8));
      if (rebased !== undefined && REBASED_SELECTORS.includes(state.selector & 0xfff8)) {
        m.setSegment(seg, { ...state, base: rebased.base });
      }
    }
    m.flushTlb();
    return { bytes, mappings: mappings.length * 2 };
  }

  private move(event: RelocationEvent): void {
    const started = wallClock.now();
    const { bytes, mappings } = this.place(event.to);
    // Claim 10: the guest content under the new region stays reachable from the VMM's
    // space through windows onto the same guest frames (aliases: every other mapping of
    // those frames stays coherent, nothing is copied).
    const windows = new Map<number, number>();
    const windowBase = event.to >= 0x80000000 ? 0x40000000 : 0xc0000000;
    const paging = this.guestPaging();
    event.displaced.forEach((linear, i) => {
      const physical = translateGuest(this.memory, paging, this.guestRamSize, linear);
      if (physical < 0 || physical >= this.guestRamSize) return;
      const window = (windowBase + i * PAGE) >>> 0;
      this.vmm.map(window, physical & ~0xfff, true);
      windows.set(linear >>> 12, window);
    });
    this.guestTranslation.setWindows(this.vmm, windows);
    this.refreshShadowRoots();
    const record: MonitorRelocation = {
      ...event,
      micros: Math.round((wallClock.now() - started) * 1000),
      bytesWritten: bytes,
      mappingsWritten: mappings,
    };
    this.moves.push(record);
    this.onRelocation?.(record);
  }

  private refreshShadowRoots(): void {
    const paging = this.guestPaging();
    this.writeData(DataField.shadowCr3Kernel, this.shadow.activate(paging, ShadowView.Kernel));
    this.writeData(DataField.shadowCr3User, this.shadow.activate(paging, ShadowView.User));
  }

  /** The machine's INTR pin follows the guest's PIC; `pending` adds the guest's IF. */
  private setKick(level: boolean): void {
    if (this.kickRaised === level) return;
    this.kickRaised = level;
    this.machine.intr.set(level);
  }

  private fail(message: string): void {
    this.statusValue = "fault";
    this.faultMessage = message;
  }

  // ---- memory helpers ------------------------------------------------------------------

  private guestPaging(): GuestPaging {
    return { cr0: this.guest.getCr(0), cr3: this.guest.getCr(3), cr4: this.guest.getCr(4) };
  }

  /**
   * Reads dwords at offsets of a guest linear range (`length` bytes from `base`) with one
   * page walk per page, not per read: the GDT's up to 252 descriptors on every write to it.
   * Unsigned; 0 where the guest maps no RAM.
   */
  private linearReader(base: number, length: number): (offset: number) => number {
    const paging = this.guestPaging();
    const first = base - (base % PAGE);
    const frames: number[] = [];
    for (let page = first; page < base + length + 4; page += PAGE) {
      frames.push(translateGuest(this.memory, paging, this.guestRamSize, page >>> 0));
    }
    return (offset) => {
      const linear = base + offset;
      const frame = frames[Math.floor((linear - first) / PAGE)];
      const physical = frame + (linear % PAGE);
      return frame >= 0 && physical + 4 <= this.guestRamSize ? this.memory.read32(physical) >>> 0 : 0;
    };
  }

  private readStub(offset: number): number {
    return this.memory.read32(this.stubFrames[offset >>> 12] + (offset & 0xfff));
  }

  private writeStub(offset: number, value: number): void {
    this.memory.write32(this.stubFrames[offset >>> 12] + (offset & 0xfff), value >>> 0);
  }

  private readData(field: number): number {
    return this.readStub(field);
  }

  private writeData(field: number, value: number): void {
    this.writeStub(field, value);
  }

  private readFrame(field: number): number {
    return this.readStub(StubOffset.frame + field);
  }

  private writeFrame(field: number, value: number): void {
    this.writeStub(StubOffset.frame + field, value);
  }
}

/** A segment register's cache as a GDT descriptor (SDM Vol. 3A, 3.4.5). */
function encodeDescriptor(state: SegmentState): [number, number] {
  const granular = (state.access & 0x8000) !== 0 || state.limit > 0xfffff;
  const limit = granular ? state.limit >>> 12 : state.limit;
  const lo = ((limit & 0xffff) | ((state.base & 0xffff) << 16)) >>> 0;
  const flags = ((state.access >>> 12) & 0x7) | (granular ? 0x8 : 0);
  const hi =
    ((state.base >>> 16) & 0xff) |
    ((state.access & 0xff) << 8) |
    (limit & 0xf0000) |
    (flags << 20) |
    (state.base & 0xff000000);
  return [lo, hi >>> 0];
}
