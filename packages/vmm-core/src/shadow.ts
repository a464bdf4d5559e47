import { type MemoryBus, PageFaultError } from "@pagurus/spec";
import type { FrameAllocator } from "./frames.js";
import {
  CR0_WP,
  CR4_PSE,
  FRAME_MASK,
  type GuestPaging,
  LARGE_FRAME_MASK,
  LARGE_RESERVED_MASK,
  Pte,
  pagingEnabled,
} from "./paging-bits.js";

/**
 * Which guest privilege a shadow serves. The guest kernel runs at CPL 3 like guest user code,
 * so the page tables must tell them apart: the kernel view maps every guest page user-
 * accessible, the user view only the guest's user pages (docs/architecture.md section 4).
 */
export const ShadowView = { Kernel: 0, User: 1 } as const;
export type ShadowView = (typeof ShadowView)[keyof typeof ShadowView];

/** A page of the stub as the shadows map it: supervisor-only (claim 6). */
export interface StubMapping {
  readonly linear: number;
  readonly frame: number;
  readonly writable: boolean;
}

/** What {@link ShadowPaging.resolve} made of a #PF the guest took on the machine. */
export type ShadowFault =
  /** A hidden fault: the shadow now has the entry (and the guest's A/D bits are set); retry. */
  | { readonly kind: "filled" }
  /** A fault the guest itself would take: reflect #PF with this error code and CR2. */
  | { readonly kind: "guest"; readonly errorCode: number }
  /** The access hit a stub page: a conflict (claim 1) or displaced content (claim 11). */
  | { readonly kind: "stub"; readonly linear: number }
  /**
   * A write the shadow cannot let through but the guest may do: to one of the guest's own
   * page tables (claim 5: the core must see it) or, with the guest's CR0.WP = 0, to a
   * read-only page from the guest kernel. The core emulates the instruction.
   */
  | {
      readonly kind: "emulate";
      readonly reason: "page-table" | "descriptor-table" | "wp0";
      readonly physical: number;
    }
  /** The guest maps a frame outside its RAM (MMIO, open bus): the core emulates the access. */
  | { readonly kind: "unbacked"; readonly physical: number };

interface ShadowSpace {
  /** Shadow page directory per view. */
  readonly pd: [number, number];
  /** Shadow page tables per view, by directory index. */
  readonly pts: [Map<number, number>, Map<number, number>];
}

const FILLED: ShadowFault = { kind: "filled" };
const A20_BIT = 1 << 20;
const FLAT = -1;

/**
 * Shadow page tables (claims 4 and 6): for each guest address space and view, page tables
 * the machine's MMU walks, mapping guest linear pages to the guest's own frames, with the
 * stub's pages added supervisor-only and the guest's page tables write-protected, so every
 * event that could put guest memory where the stub sits traps to the monitor.
 *
 * Entries are filled on demand from the guest's tables, the way the hardware would use them:
 * a page the guest has not accessed stays not present until it is (so the guest's Accessed
 * bit is set when the hardware would set it), a clean page stays read-only until written
 * (Dirty, SDM 4.8).
 */
export class ShadowPaging {
  private readonly spaces = new Map<number, ShadowSpace>();
  private stub: readonly StubMapping[] = [];
  private stubPages = new Set<number>();
  /** Guest frames holding page directories and tables of spaces the monitor shadows. */
  readonly tableFrames = new Set<number>();
  /** Guest frames holding the guest's GDT: the stub keeps copies of it (protectDescriptorFrames). */
  private descriptorFrames = new Set<number>();
  /** For each guest page-table frame: where it is referenced, as `pdFrame | pdeIndex`. */
  private readonly tableRefs = new Map<number, Set<number>>();
  /** Hidden faults served, for statistics. */
  filled = 0;
  /** The guest's A20 gate: when off, physical address bit 20 is forced to 0 (the A20M# pin). */
  private a20 = true;

  constructor(
    private readonly memory: MemoryBus,
    private readonly frames: FrameAllocator,
    private readonly guestRamSize: number,
  ) {}

  /** The machine CR3 (a shadow page directory) for the guest's current space and view. */
  activate(guest: GuestPaging, view: ShadowView): number {
    return this.space(guest).pd[view];
  }

  /** Moves the stub's pages in every shadow (claims 9 and 10: re-mapping the first portion). */
  setStub(pages: readonly StubMapping[]): void {
    for (const space of this.spaces.values()) {
      for (const view of [ShadowView.Kernel, ShadowView.User] as const) {
        for (const page of this.stub) this.setPte(space, view, page.linear, 0);
      }
    }
    this.stub = pages;
    this.stubPages = new Set(pages.map((p) => p.linear >>> 12));
    for (const space of this.spaces.values()) this.installStub(space);
  }

  /**
   * The guest's A20 gate changed. The machine's own A20 stays on (the monitor's frames need
   * every address bit), so the shadows apply the guest's: rebuilt with bit 20 of every guest
   * frame cleared while the gate is off.
   */
  setA20(enabled: boolean): void {
    if (enabled === this.a20) return;
    this.a20 = enabled;
    this.flushAll();
  }

  /**
   * Write-protects the frames of the guest's GDT in every shadow: the stub's GDT holds copies
   * of its descriptors, and a guest that edits one and loads it must get the new one. Writes
   * there come back as `emulate` with reason `descriptor-table`.
   */
  protectDescriptorFrames(frames: ReadonlySet<number>): void {
    let added = false;
    for (const frame of frames) if (!this.descriptorFrames.has(frame)) added = true;
    this.descriptorFrames = new Set(frames);
    // Pages already mapped writable must fault from now on.
    if (added) this.dropEntries();
  }

  /** Frames the shadows map read-only whatever the guest allows: its paging structures and GDT. */
  private writeProtected(frame: number): boolean {
    return this.tableFrames.has(frame) || this.descriptorFrames.has(frame);
  }

  isStubPage(linear: number): boolean {
    return this.stubPages.has(linear >>> 12);
  }

  /**
   * Drops every shadow (after the guest changed a page table, CR0.WP, CR4.PSE or PGE); they
   * are rebuilt on demand. Correct, if not the fastest: finer invalidation can come later.
   */
  flushAll(): void {
    for (const space of this.spaces.values()) {
      for (const view of [ShadowView.Kernel, ShadowView.User] as const) {
        this.frames.release(space.pd[view]);
        for (const pt of space.pts[view].values()) this.frames.release(pt);
      }
    }
    this.spaces.clear();
    this.tableFrames.clear();
    this.tableRefs.clear();
  }

  /**
   * Decides what a machine #PF at `linear` means. `write` says whether the access was a
   * write; `view` is the guest's virtual privilege at the time.
   */
  resolve(linear: number, write: boolean, guest: GuestPaging, view: ShadowView): ShadowFault {
    linear >>>= 0;
    if (this.stubPages.has(linear >>> 12)) return { kind: "stub", linear };
    // Out of frames: drop every shadow and rebuild on demand (the simplest replacement).
    if (this.frames.available < 8) this.flushAll();
    const space = this.space(guest);
    const user = view === ShadowView.User;
    const accessBits = (write ? PageFaultError.Write : 0) | (user ? PageFaultError.User : 0);

    let physical: number;
    let writable = true;
    let userOk = true;
    let dirty = true;
    let pteAddress = -1;
    let pdeAddress = -1;
    if (!pagingEnabled(guest)) {
      physical = linear;
    } else {
      pdeAddress = ((guest.cr3 & FRAME_MASK) + (linear >>> 22) * 4) >>> 0;
      const pde = this.readGuest(pdeAddress);
      if ((pde & Pte.P) === 0) return { kind: "guest", errorCode: accessBits };
      if ((guest.cr4 & CR4_PSE) !== 0 && (pde & Pte.PS) !== 0) {
        if ((pde & LARGE_RESERVED_MASK) !== 0) {
          return {
            kind: "guest",
            errorCode: accessBits | PageFaultError.Present | PageFaultError.ReservedBit,
          };
        }
        physical = ((pde & LARGE_FRAME_MASK) | (linear & 0x3ff000)) >>> 0;
        writable = (pde & Pte.RW) !== 0;
        userOk = (pde & Pte.US) !== 0;
        dirty = (pde & Pte.D) !== 0;
      } else {
        pteAddress = ((pde & FRAME_MASK) + ((linear >>> 12) & 0x3ff) * 4) >>> 0;
        const pte = this.readGuest(pteAddress);
        if ((pte & Pte.P) === 0) return { kind: "guest", errorCode: accessBits };
        physical = (pte & FRAME_MASK) >>> 0;
        writable = (pde & Pte.RW) !== 0 && (pte & Pte.RW) !== 0;
        userOk = (pde & Pte.US) !== 0 && (pte & Pte.US) !== 0;
        dirty = (pte & Pte.D) !== 0;
      }
    }

    // The guest's own protection rules (SDM 4.6) at its virtual privilege.
    if (user && !userOk) return { kind: "guest", errorCode: accessBits | PageFaultError.Present };
    if (write && !writable) {
      if (user || (guest.cr0 & CR0_WP) !== 0) {
        return { kind: "guest", errorCode: accessBits | PageFaultError.Present };
      }
      return { kind: "emulate", reason: "wp0", physical: physical | (linear & 0xfff) };
    }
    const frame = (this.a20 ? physical & FRAME_MASK : physical & FRAME_MASK & ~A20_BIT) >>> 0;
    if (frame >= this.guestRamSize) return { kind: "unbacked", physical: (frame | (linear & 0xfff)) >>> 0 };
    const isTable = this.tableFrames.has(frame);
    if (write && isTable)
      return { kind: "emulate", reason: "page-table", physical: (frame | (linear & 0xfff)) >>> 0 };
    const isDescriptorTable = this.descriptorFrames.has(frame);
    if (write && isDescriptorTable)
      return { kind: "emulate", reason: "descriptor-table", physical: (frame | (linear & 0xfff)) >>> 0 };

    // The access succeeds for the guest: set Accessed (and Dirty) where the hardware would.
    if (pdeAddress >= 0) this.orGuest(pdeAddress, Pte.A);
    if (pteAddress >= 0) this.orGuest(pteAddress, write ? Pte.A | Pte.D : Pte.A);
    else if (pdeAddress >= 0 && write) this.orGuest(pdeAddress, Pte.D);
    if (write) dirty = true;

    const shadowWritable = writable && dirty && !isTable && !isDescriptorTable;
    this.setPte(
      space,
      view,
      linear,
      (frame | Pte.P | Pte.US | Pte.A | Pte.D | (shadowWritable ? Pte.RW : 0)) >>> 0,
    );
    // Neighbours the guest has already used can be mapped now instead of faulting one by one:
    // a whole 4 MiB page once its Accessed bit is set, or the PTEs of this table with A set.
    if (pteAddress < 0 && pdeAddress >= 0) {
      this.prefillLarge(space, view, linear, this.readGuest(pdeAddress));
    } else if (pteAddress >= 0) {
      this.prefillTable(space, view, linear, this.readGuest(pdeAddress));
    }
    this.filled++;
    return FILLED;
  }

  /** Frames the shadows use now (tables of every space and view). */
  get shadowFrames(): number {
    let n = 0;
    for (const space of this.spaces.values()) n += 2 + space.pts[0].size + space.pts[1].size;
    return n;
  }

  /** Maps the rest of a guest 4 MiB page whose PDE is accessed (SDM 4.8: one A/D pair for the page). */
  private prefillLarge(space: ShadowSpace, view: ShadowView, linear: number, pde: number): void {
    if ((pde & Pte.A) === 0) return;
    const user = view === ShadowView.User;
    if (user && (pde & Pte.US) === 0) return;
    const writable = (pde & Pte.RW) !== 0 && (pde & Pte.D) !== 0;
    const slot = linear & LARGE_FRAME_MASK;
    const frameBase = pde & LARGE_FRAME_MASK;
    for (let i = 0; i < 1024; i++) {
      const page = (slot | (i << 12)) >>> 0;
      const frame = ((frameBase | (i << 12)) & (this.a20 ? -1 : ~A20_BIT)) >>> 0;
      if (frame >= this.guestRamSize || this.stubPages.has(page >>> 12)) continue;
      const rw = writable && !this.writeProtected(frame) ? Pte.RW : 0;
      this.setPte(space, view, page, (frame | Pte.P | Pte.US | Pte.A | Pte.D | rw) >>> 0);
    }
  }

  /** Maps the entries of a guest page table that the guest has already accessed. */
  private prefillTable(space: ShadowSpace, view: ShadowView, linear: number, pde: number): void {
    const user = view === ShadowView.User;
    if (user && (pde & Pte.US) === 0) return;
    const pt = pde & FRAME_MASK;
    if (pt >= this.guestRamSize) return;
    const pdeWritable = (pde & Pte.RW) !== 0;
    const slot = linear & LARGE_FRAME_MASK;
    for (let i = 0; i < 1024; i++) {
      const pte = this.memory.read32(pt + i * 4);
      if ((pte & (Pte.P | Pte.A)) !== (Pte.P | Pte.A)) continue;
      if (user && (pte & Pte.US) === 0) continue;
      const page = (slot | (i << 12)) >>> 0;
      const frame = (pte & FRAME_MASK & (this.a20 ? -1 : ~A20_BIT)) >>> 0;
      if (frame >= this.guestRamSize || this.stubPages.has(page >>> 12)) continue;
      const rw = pdeWritable && (pte & (Pte.RW | Pte.D)) === (Pte.RW | Pte.D) && !this.writeProtected(frame);
      this.setPte(space, view, page, (frame | Pte.P | Pte.US | Pte.A | Pte.D | (rw ? Pte.RW : 0)) >>> 0);
    }
  }

  private space(guest: GuestPaging): ShadowSpace {
    const key = pagingEnabled(guest) ? (guest.cr3 & FRAME_MASK) >>> 0 : FLAT;
    let space = this.spaces.get(key);
    if (space === undefined) {
      space = {
        pd: [this.frames.allocate(), this.frames.allocate()],
        pts: [new Map(), new Map()],
      };
      this.spaces.set(key, space);
      if (key !== FLAT) this.registerTables(guest);
      this.installStub(space);
    }
    return space;
  }

  /** Write-protects the guest's page directory and tables (claim 5) by remembering their frames. */
  private registerTables(guest: GuestPaging): void {
    const pd = (guest.cr3 & FRAME_MASK) >>> 0;
    if (pd >= this.guestRamSize) return;
    let added = !this.tableFrames.has(pd);
    this.tableFrames.add(pd);
    const pse = (guest.cr4 & CR4_PSE) !== 0;
    for (let i = 0; i < 1024; i++) {
      if (this.registerTable(pd, i, this.memory.read32(pd + i * 4), pse)) added = true;
    }
    // A frame that just became a page table may already be mapped writable in another
    // shadow: make those entries fault again by dropping what was built so far.
    if (added) this.dropEntries();
  }

  /** Remembers the page table a PDE references; true when its frame was not a table before. */
  private registerTable(pd: number, index: number, pde: number, pse: boolean): boolean {
    if ((pde & Pte.P) === 0 || (pse && (pde & Pte.PS) !== 0)) return false;
    const pt = (pde & FRAME_MASK) >>> 0;
    if (pt >= this.guestRamSize) return false;
    let refs = this.tableRefs.get(pt);
    if (refs === undefined) {
      refs = new Set();
      this.tableRefs.set(pt, refs);
    }
    refs.add((pd | index) >>> 0);
    if (this.tableFrames.has(pt)) return false;
    this.tableFrames.add(pt);
    return true;
  }

  /**
   * The guest wrote one of its paging structures (the core emulated the write): drop exactly
   * the shadow entries built from the entries that changed, so they are rebuilt from the new
   * ones. `before` holds the frame's 1024 entries as they were. Returns the directory indexes
   * (4 MiB slots) whose mappings may have changed, or null when the write may have reached
   * beyond this frame and everything was dropped.
   */
  tableWritten(frame: number, before: Uint32Array, guest: GuestPaging): Set<number> | null {
    const changed: number[] = [];
    for (let i = 0; i < 1024; i++) {
      if (this.memory.read32(frame + i * 4) !== before[i]) changed.push(i);
    }
    if (changed.at(-1) === 1023) {
      this.flushAll();
      return null;
    }
    const slots = new Set<number>();
    const pse = (guest.cr4 & CR4_PSE) !== 0;
    let newTable = false;
    const asDirectory = this.spaces.get(frame);
    if (asDirectory !== undefined) {
      for (const pdi of changed) {
        slots.add(pdi);
        for (const view of [ShadowView.Kernel, ShadowView.User] as const) {
          const pt = asDirectory.pts[view].get(pdi);
          if (pt === undefined) continue;
          this.frames.release(pt);
          asDirectory.pts[view].delete(pdi);
          this.memory.write32(asDirectory.pd[view] + pdi * 4, 0);
        }
        if (this.registerTable(frame, pdi, this.memory.read32(frame + pdi * 4), pse)) newTable = true;
      }
      // The stub's pages may live in a slot whose shadow table was just dropped.
      this.installStub(asDirectory);
    }
    const refs = this.tableRefs.get(frame);
    if (refs !== undefined) {
      for (const ref of refs) {
        const space = this.spaces.get((ref & FRAME_MASK) >>> 0);
        const pdi = ref & 0x3ff;
        if (space === undefined) continue;
        slots.add(pdi);
        for (const index of changed) {
          const linear = ((pdi << 22) | (index << 12)) >>> 0;
          if (this.stubPages.has(linear >>> 12)) continue;
          for (const view of [ShadowView.Kernel, ShadowView.User] as const)
            this.setPte(space, view, linear, 0);
        }
      }
    }
    if (newTable) this.dropEntries();
    return slots;
  }

  private dropEntries(): void {
    for (const space of this.spaces.values()) {
      for (const view of [ShadowView.Kernel, ShadowView.User] as const) {
        for (const [pdi, pt] of space.pts[view]) {
          for (let i = 0; i < 1024; i++) {
            const linear = ((pdi << 22) | (i << 12)) >>> 0;
            if (!this.stubPages.has(linear >>> 12)) this.memory.write32(pt + i * 4, 0);
          }
        }
      }
    }
  }

  private installStub(space: ShadowSpace): void {
    for (const view of [ShadowView.Kernel, ShadowView.User] as const) {
      for (const page of this.stub) {
        // U/S = 0: the guest, at CPL 3 in both views, faults on every touch (claim 6).
        this.setPte(
          space,
          view,
          page.linear,
          (page.frame | Pte.P | Pte.A | Pte.D | (page.writable ? Pte.RW : 0)) >>> 0,
        );
      }
    }
  }

  private setPte(space: ShadowSpace, view: ShadowView, linear: number, value: number): void {
    const pdi = linear >>> 22;
    let pt = space.pts[view].get(pdi);
    if (pt === undefined) {
      if (value === 0) return;
      pt = this.frames.allocate();
      space.pts[view].set(pdi, pt);
      // The PDE allows everything; each PTE says what the page allows (SDM 4.6: the
      // effective rights are the intersection of both levels).
      this.memory.write32(space.pd[view] + pdi * 4, (pt | Pte.P | Pte.RW | Pte.US | Pte.A) >>> 0);
    }
    this.memory.write32(pt + ((linear >>> 12) & 0x3ff) * 4, value);
  }

  private readGuest(address: number): number {
    return address < this.guestRamSize ? this.memory.read32(address) : 0;
  }

  private orGuest(address: number, bits: number): void {
    if (address >= this.guestRamSize) return;
    const value = this.memory.read32(address);
    if ((value & bits) !== bits) this.memory.write32(address, (value | bits) >>> 0);
  }
}

/**
 * The guest's own translation of `linear` (SDM 4.3), with no side effects: for the core's
 * reads of guest structures (its GDT when copying descriptors). -1 when not present.
 */
export function translateGuest(
  memory: MemoryBus,
  guest: GuestPaging,
  guestRamSize: number,
  linear: number,
): number {
  linear >>>= 0;
  if (!pagingEnabled(guest)) return linear;
  const pdeAddress = ((guest.cr3 & FRAME_MASK) + (linear >>> 22) * 4) >>> 0;
  if (pdeAddress >= guestRamSize) return -1;
  const pde = memory.read32(pdeAddress);
  if ((pde & Pte.P) === 0) return -1;
  if ((guest.cr4 & CR4_PSE) !== 0 && (pde & Pte.PS) !== 0) {
    return ((pde & LARGE_FRAME_MASK) | (linear & 0x3fffff)) >>> 0;
  }
  const pteAddress = ((pde & FRAME_MASK) + ((linear >>> 12) & 0x3ff) * 4) >>> 0;
  if (pteAddress >= guestRamSize) return -1;
  const pte = memory.read32(pteAddress);
  if ((pte & Pte.P) === 0) return -1;
  return ((pte & FRAME_MASK) | (linear & 0xfff)) >>> 0;
}
