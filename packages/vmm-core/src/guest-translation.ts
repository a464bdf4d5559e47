import type { AddressTranslation, PageWalk } from "@pagurus/spec";
import type { VmmAddressSpace } from "./vmm-space.js";

/**
 * The virtual CPU's translation: the guest's own page tables (any `AddressTranslation`, in
 * practice `@pagurus/mmu`), except that pages displaced by the stub (claim 10) are reached
 * through the core's windows in the VMM address space (claim 11: "accessing the copied
 * content of the memory in the second address space"). The guest's walk still runs first,
 * so its faults, Accessed and Dirty bits are exactly a bare machine's.
 */
export class GuestTranslation implements AddressTranslation {
  private readonly windows = new Map<number, number>();
  private vmm: VmmAddressSpace | null = null;
  /** Accesses served through a window, for statistics. */
  displacedAccesses = 0;

  constructor(private readonly inner: AddressTranslation) {}

  get faultErrorCode(): number {
    return this.inner.faultErrorCode;
  }

  /** The core's current windows: displaced guest linear page -> VMM linear address. */
  setWindows(vmm: VmmAddressSpace, windows: ReadonlyMap<number, number>): void {
    this.vmm = vmm;
    this.windows.clear();
    for (const [page, window] of windows) this.windows.set(page, window);
    // The virtual CPU may have cached the old route; it re-asks after a flush.
    this.inner.flushAll();
  }

  translate(linear: number, access: number): number {
    const physical = this.inner.translate(linear, access);
    if (physical < 0 || this.windows.size === 0 || this.vmm === null) return physical;
    const window = this.windows.get(linear >>> 12);
    if (window === undefined) return physical;
    this.displacedAccesses++;
    return this.vmm.translate((window | (linear & 0xfff)) >>> 0);
  }

  setControl(cr0: number, cr3: number, cr4: number): void {
    this.inner.setControl(cr0, cr3, cr4);
  }

  invalidatePage(linear: number): void {
    this.inner.invalidatePage(linear);
  }

  flushAll(): void {
    this.inner.flushAll();
  }

  walk(linear: number): PageWalk {
    return this.inner.walk(linear);
  }
}
