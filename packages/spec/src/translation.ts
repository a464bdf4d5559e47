/**
 * Bits of a #PF error code (Intel SDM Vol. 3A, 4.7). The access kind passed to
 * {@link AddressTranslation.translate} uses the same bits, so the error code of a fault is the
 * access kind plus `Present` when the fault was a protection violation.
 */
export const PageFaultError = {
  /** 0: the page was not present; 1: a protection violation. */
  Present: 1,
  /** The access was a write. */
  Write: 2,
  /** The access was made at CPL 3 (a user-mode access). */
  User: 4,
  /** A reserved bit was set in a paging structure. */
  ReservedBit: 8,
  /** The access was an instruction fetch (only reported with PAE/NX; IA-32 without them reports 0). */
  Fetch: 16,
} as const;

/** Access kinds for {@link AddressTranslation.translate}: any OR of these bits, 0 being a supervisor read. */
export const PageAccess = {
  Read: 0,
  Write: PageFaultError.Write,
  User: PageFaultError.User,
  Fetch: PageFaultError.Fetch,
} as const;

/** One step of a page walk, for debuggers and the monitor; see {@link AddressTranslation.walk}. */
export interface PageWalk {
  readonly linear: number;
  /** False when paging is off: then `physical === linear`. */
  readonly paging: boolean;
  /** Physical address of the page-directory entry read, and its value. */
  readonly pdeAddress: number;
  readonly pde: number;
  /** Physical address and value of the page-table entry, or -1 for a 4 MiB page or a not-present PDE. */
  readonly pteAddress: number;
  readonly pte: number;
  /** The translated physical address, or -1 when the walk ends at a not-present entry. */
  readonly physical: number;
  /** 4096 or 4194304, or 0 when not present. */
  readonly pageSize: number;
  /** Effective permissions (SDM 4.6): writable and user-accessible through every level. */
  readonly writable: boolean;
  readonly user: boolean;
  readonly global: boolean;
}

/**
 * Linear to physical translation (IA-32 paging, or anything else a machine wants). The CPU
 * calls it only while CR0.PG is set, after segmentation.
 *
 * A CPU may cache a successful result per linear page and per access kind until it calls
 * {@link setControl}, {@link invalidatePage} or {@link flushAll}; so a translator must have
 * set the Accessed (and, for writes, Dirty) bits by the time `translate` returns.
 */
export interface AddressTranslation {
  /**
   * Translates `linear` for one access of kind `access` (bits of {@link PageAccess}).
   * Returns the physical address, or -1 when the access faults: then {@link faultErrorCode}
   * holds the #PF error code; the CPU loads CR2 and raises #PF itself.
   */
  translate(linear: number, access: number): number;
  /** The #PF error code of the last failed {@link translate}. */
  readonly faultErrorCode: number;
  /**
   * The CPU reports every write of CR0, CR3 or CR4 (MOV to CRn, task switches, reset), with
   * the new values; the translator drops what the SDM says such a write flushes (4.10.4).
   */
  setControl(cr0: number, cr3: number, cr4: number): void;
  /** INVLPG. */
  invalidatePage(linear: number): void;
  /** Drops every cached translation, global ones too. */
  flushAll(): void;
  /** The page walk for `linear` with no side effects: no A/D bits, no cache fill. */
  walk(linear: number): PageWalk;
}
