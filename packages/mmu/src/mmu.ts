import type { AddressTranslation, MemoryBus, PageWalk, Snapshottable } from "@pagurus/spec";
import { PageFaultError } from "@pagurus/spec";

// Control-register bits this unit reads (SDM Vol. 3A, 2.5).
const CR0_WP = 1 << 16;
const CR0_PG = 1 << 31;
const CR4_PSE = 1 << 4;
const CR4_PAE = 1 << 5;
const CR4_PGE = 1 << 7;

// Bits of a 32-bit paging PDE or PTE (SDM Vol. 3A, 4.3, Tables 4-4 to 4-6).
const P = 1 << 0;
const RW = 1 << 1;
const US = 1 << 2;
const ACCESSED = 1 << 5;
const DIRTY = 1 << 6;
const PS = 1 << 7;
const G = 1 << 8;
/**
 * Bits 21:13 of a PDE that maps a 4 MiB page. With PSE-36 some of them carry physical-address
 * bits 39:32; this unit has MAXPHYADDR = 32, so all of them are reserved and a set one is a
 * RSVD fault (SDM Vol. 3A, Table 4-4 "bits 21:(M-19)", and 4.7).
 */
const PSE_RESERVED = 0x003f_e000;
const FRAME_4K = 0xffff_f000;
const FRAME_4M = 0xffc0_0000;

// Bits of a TLB entry. The high 20 bits hold the physical frame of the 4 KiB page; the low 12
// bits hold these flags, so the fast path is one typed-array read and one mask compare.
const T_VALID = 1 << 0;
/** R/W was 1 in every entry of the walk (SDM 4.6: the effective permission is the AND). */
const T_WRITABLE = 1 << 1;
/** U/S was 1 in every entry of the walk. */
const T_USER = 1 << 2;
/**
 * The final entry's D flag was set when this entry was cached. A write through an entry
 * without it misses and re-walks, so D gets set in memory (SDM 4.8: the processor sets D "the
 * first time there is a write", which it can only do by going back to the paging structure).
 */
const T_DIRTY = 1 << 3;
/** Cached from a global page (G = 1 in the final entry with CR4.PGE = 1, SDM 4.10.2.4). */
const T_GLOBAL = 1 << 4;
/** One 4 KiB slice of a 4 MiB page: INVLPG of any address in the big page drops them all. */
const T_LARGE = 1 << 5;
/** The page number is in {@link Mmu.filled} (or the list overflowed); survives invalidation. */
const T_LISTED = 1 << 6;

const PAGES = 1 << 20;
/** Up to this many distinct pages are remembered for cheap flushes; past it a flush scans. */
const LIST_CAPACITY = 1 << 14;

/** What {@link Mmu.save} returns: the control registers. TLB contents are not architectural state. */
export interface MmuState {
  cr0: number;
  cr3: number;
  cr4: number;
  faultErrorCode: number;
}

/** {@link PageWalk} plus what a debugger also wants to know about a malformed entry. */
export interface MmuPageWalk extends PageWalk {
  /**
   * A reserved bit is set in the entry that ends the walk (a 4 MiB PDE with any of bits 21:13):
   * an access would raise #PF with RSVD (bit 3) in the error code, and `physical` is -1.
   */
  readonly reserved: boolean;
}

/**
 * IA-32 32-bit paging (Intel SDM Vol. 3A, 4.3): a two-level walk from CR3 through a page
 * directory and page tables to 4 KiB pages, or straight to 4 MiB pages when CR4.PSE is set,
 * with the U/S and R/W checks of 4.6, the A/D updates of 4.8, #PF error codes of 4.7 and a
 * TLB that keeps what the SDM lets it keep (4.10).
 *
 * Page-table walks read and write through the {@link MemoryBus} given to the constructor.
 */
export class Mmu implements AddressTranslation, Snapshottable<MmuState> {
  faultErrorCode = 0;

  private cr0Value = 0;
  private cr3Value = 0;
  private cr4Value = 0;
  /** One entry per linear page number: frame | flags, or 0. */
  private readonly tlb = new Int32Array(PAGES);
  private readonly filled = new Int32Array(LIST_CAPACITY);
  private filledCount = 0;
  private overflowed = false;
  /** Whether any 4 MiB slice is cached, so INVLPG can skip its 1024-entry scan otherwise. */
  private anyLarge = false;

  constructor(private readonly memory: MemoryBus) {}

  get cr0(): number {
    return this.cr0Value >>> 0;
  }
  get cr3(): number {
    return this.cr3Value >>> 0;
  }
  get cr4(): number {
    return this.cr4Value >>> 0;
  }

  translate(linear: number, access: number): number {
    if ((this.cr0Value & CR0_PG) === 0) return linear >>> 0;
    const entry = this.tlb[linear >>> 12];
    // The flags a cached entry needs for this access (SDM 4.6). Instruction fetches are reads
    // (no NX in 32-bit paging). A supervisor write needs R/W only with CR0.WP set, so WP is
    // applied here, not cached: toggling WP needs no flush.
    let need = T_VALID;
    if (access & PageFaultError.User) need |= T_USER;
    if (access & PageFaultError.Write) {
      need |= T_DIRTY;
      if (access & PageFaultError.User || this.cr0Value & CR0_WP) need |= T_WRITABLE;
    }
    if ((entry & need) === need) return ((entry & FRAME_4K) | (linear & 0xfff)) >>> 0;
    return this.translateSlow(linear >>> 0, access);
  }

  setControl(cr0: number, cr3: number, cr4: number): void {
    const changed0 = (cr0 ^ this.cr0Value) | 0;
    const changed4 = (cr4 ^ this.cr4Value) | 0;
    this.cr0Value = cr0 | 0;
    this.cr3Value = cr3 | 0;
    this.cr4Value = cr4 | 0;
    // SDM 4.10.4.1: clearing CR0.PG and changing CR4.PGE invalidate every entry, global ones
    // too; a paging-mode change (CR4.PSE, CR4.PAE) is treated the same way. Any other write
    // is handled as a MOV to CR3, which drops all non-global entries: the contract does not
    // say which register was written, and a MOV to CR3 of the same value must still flush.
    // Dropping more than the SDM requires is always allowed (TLB entries may go at any time).
    if (changed0 & CR0_PG || changed4 & (CR4_PGE | CR4_PSE | CR4_PAE)) this.flushAll();
    else this.flushNonGlobal();
  }

  invalidatePage(linear: number): void {
    const page = linear >>> 12;
    this.tlb[page] &= T_LISTED;
    // INVLPG drops the translation for the page containing the address, whatever its size
    // (SDM Vol. 2A, INVLPG; 4.10.4.1): a 4 MiB page is cached here as 1024 slices.
    if (this.anyLarge) {
      const first = page & ~0x3ff;
      for (let i = first; i < first + 1024; i++) if (this.tlb[i] & T_LARGE) this.tlb[i] &= T_LISTED;
    }
  }

  flushAll(): void {
    if (this.overflowed) this.tlb.fill(0);
    else for (let i = 0; i < this.filledCount; i++) this.tlb[this.filled[i]] = 0;
    this.filledCount = 0;
    this.overflowed = false;
    this.anyLarge = false;
  }

  walk(linear: number): MmuPageWalk {
    linear >>>= 0;
    if ((this.cr0Value & CR0_PG) === 0) {
      return {
        linear,
        paging: false,
        pdeAddress: -1,
        pde: 0,
        pteAddress: -1,
        pte: 0,
        physical: linear,
        pageSize: 4096,
        writable: true,
        user: true,
        global: false,
        reserved: false,
      };
    }
    const pdeAddress = this.pdeAddress(linear);
    const pde = this.memory.read32(pdeAddress) >>> 0;
    const result = {
      linear,
      paging: true,
      pdeAddress,
      pde,
      pteAddress: -1,
      pte: 0,
      physical: -1,
      pageSize: 0,
      writable: false,
      user: false,
      global: false,
      reserved: false,
    };
    if ((pde & P) === 0) return result;
    if (this.isLargePage(pde)) {
      result.pageSize = 4 << 20;
      result.writable = (pde & RW) !== 0;
      result.user = (pde & US) !== 0;
      result.global = this.isGlobal(pde);
      if (pde & PSE_RESERVED) result.reserved = true;
      else result.physical = ((pde & FRAME_4M) | (linear & 0x003f_ffff)) >>> 0;
      return result;
    }
    const pteAddress = this.pteAddress(pde, linear);
    const pte = this.memory.read32(pteAddress) >>> 0;
    result.pteAddress = pteAddress;
    result.pte = pte;
    if ((pte & P) === 0) return result;
    result.pageSize = 4096;
    result.writable = (pde & pte & RW) !== 0;
    result.user = (pde & pte & US) !== 0;
    result.global = this.isGlobal(pte);
    result.physical = ((pte & FRAME_4K) | (linear & 0xfff)) >>> 0;
    return result;
  }

  save(): MmuState {
    return { cr0: this.cr0, cr3: this.cr3, cr4: this.cr4, faultErrorCode: this.faultErrorCode };
  }

  restore(state: MmuState): void {
    this.cr0Value = state.cr0 | 0;
    this.cr3Value = state.cr3 | 0;
    this.cr4Value = state.cr4 | 0;
    this.faultErrorCode = state.faultErrorCode;
    this.flushAll();
  }

  /** The walk of SDM 4.3 with the checks of 4.6 and the A/D updates of 4.8; fills the TLB. */
  private translateSlow(linear: number, access: number): number {
    const memory = this.memory;
    const write = (access & PageFaultError.Write) !== 0;
    const user = (access & PageFaultError.User) !== 0;
    // SDM 4.7: W/R and U/S describe the access; I/D is reported only with NX (PAE), so an
    // instruction fetch here reports 0 in bit 4.
    const code = access & (PageFaultError.Write | PageFaultError.User);

    const pdeAddress = this.pdeAddress(linear);
    const pde = memory.read32(pdeAddress) | 0;
    // Reserved bits are not checked in an entry whose P flag is 0 (SDM 4.7, RSVD), so a
    // not-present fault wins.
    if ((pde & P) === 0) return this.fault(linear, code);

    if (this.isLargePage(pde)) {
      if (pde & PSE_RESERVED) {
        return this.fault(linear, code | PageFaultError.Present | PageFaultError.ReservedBit);
      }
      if (this.denied(pde, write, user)) return this.fault(linear, code | PageFaultError.Present);
      // SDM 4.8: A is set in every entry used for a translation, D in the entry that maps
      // the page on a write. The SDM does not say when; Intel processors walk first and
      // update A/D only once the walk succeeded, so an access that faults sets nothing
      // (QEMU differs: it sets a PDE's A before looking at the PTE).
      const want = write ? ACCESSED | DIRTY : ACCESSED;
      if ((pde & want) !== want) memory.write32(pdeAddress, (pde | want) >>> 0);
      const frame = (pde & FRAME_4M) | (linear & 0x003f_f000);
      this.anyLarge = true;
      return this.fill(linear, frame, pde, pde, write || (pde & DIRTY) !== 0, T_LARGE);
    }

    const pteAddress = this.pteAddress(pde, linear);
    const pte = memory.read32(pteAddress) | 0;
    if ((pte & P) === 0) return this.fault(linear, code);
    // SDM 4.6: the access rights are the combination of both levels: writable only if R/W is
    // 1 in the PDE and the PTE, user-accessible only if U/S is 1 in both.
    const rights = pde & pte;
    if (this.denied(rights, write, user)) return this.fault(linear, code | PageFaultError.Present);
    if ((pde & ACCESSED) === 0) memory.write32(pdeAddress, (pde | ACCESSED) >>> 0);
    const want = write ? ACCESSED | DIRTY : ACCESSED;
    // Re-read when the PTE is the PDE itself (a self-referencing directory), so the second
    // write keeps the A bit the first one set.
    const current = pteAddress === pdeAddress ? pde | ACCESSED : pte;
    if ((current & want) !== want) memory.write32(pteAddress, (current | want) >>> 0);
    return this.fill(linear, pte & FRAME_4K, rights, pte, write || (pte & DIRTY) !== 0, 0);
  }

  /** SDM 4.6 for 32-bit paging without SMEP/SMAP. `rights` has the combined R/W and U/S. */
  private denied(rights: number, write: boolean, user: boolean): boolean {
    if (user) return (rights & US) === 0 || (write && (rights & RW) === 0);
    // Supervisor-mode accesses may read any page; they may write a read-only page only while
    // CR0.WP is clear.
    return write && (rights & RW) === 0 && (this.cr0Value & CR0_WP) !== 0;
  }

  private fault(linear: number, code: number): number {
    this.faultErrorCode = code;
    // SDM 4.10.4.1: a #PF invalidates the TLB entries for the faulting page number, so a
    // stale entry that could not serve this access is not used again.
    this.tlb[linear >>> 12] &= T_LISTED;
    return -1;
  }

  private fill(
    linear: number,
    frame: number,
    rights: number,
    last: number,
    dirty: boolean,
    extra: number,
  ): number {
    const page = linear >>> 12;
    let flags = T_VALID | T_LISTED | extra;
    if (rights & RW) flags |= T_WRITABLE;
    if (rights & US) flags |= T_USER;
    if (dirty) flags |= T_DIRTY;
    if (this.isGlobal(last)) flags |= T_GLOBAL;
    if ((this.tlb[page] & T_LISTED) === 0) {
      if (this.filledCount < LIST_CAPACITY) this.filled[this.filledCount++] = page;
      else this.overflowed = true;
    }
    this.tlb[page] = frame | flags;
    return (frame | (linear & 0xfff)) >>> 0;
  }

  /** What a MOV to CR3 drops (SDM 4.10.4.1): every entry except those for global pages. */
  private flushNonGlobal(): void {
    const tlb = this.tlb;
    const keep = T_VALID | T_GLOBAL;
    if (this.overflowed) {
      this.filledCount = 0;
      this.overflowed = false;
      for (let page = 0; page < PAGES; page++) {
        const entry = tlb[page];
        if (entry === 0) continue;
        if ((entry & keep) === keep) this.relist(page);
        else tlb[page] = 0;
      }
      return;
    }
    const filled = this.filled;
    const count = this.filledCount;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const page = filled[i];
      if ((tlb[page] & keep) === keep) filled[kept++] = page;
      else tlb[page] = 0;
    }
    this.filledCount = kept;
  }

  private relist(page: number): void {
    if (this.filledCount < LIST_CAPACITY) this.filled[this.filledCount++] = page;
    else this.overflowed = true;
  }

  private pdeAddress(linear: number): number {
    // SDM 4.3: CR3 bits 31:12 locate the page directory; linear bits 31:22 index it.
    return ((this.cr3Value & FRAME_4K) | ((linear >>> 20) & 0xffc)) >>> 0;
  }

  private pteAddress(pde: number, linear: number): number {
    return ((pde & FRAME_4K) | ((linear >>> 10) & 0xffc)) >>> 0;
  }

  /** PDE.PS selects a 4 MiB page only while CR4.PSE is set; otherwise it is ignored (4.3). */
  private isLargePage(pde: number): boolean {
    return (pde & PS) !== 0 && (this.cr4Value & CR4_PSE) !== 0;
  }

  /** G in the entry that maps the page counts only while CR4.PGE is set (4.10.2.4). */
  private isGlobal(entry: number): boolean {
    return (entry & G) !== 0 && (this.cr4Value & CR4_PGE) !== 0;
  }
}
