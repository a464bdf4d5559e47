/** Test helper: a minimal Multiboot ELF32 i386 executable around `code` (entry at its start). */
export function multibootElf(
  code: Uint8Array,
  options: { paddr?: number; vaddr?: number; memsz?: number; flags?: number; header?: boolean } = {},
): Uint8Array {
  const paddr = options.paddr ?? 0x100000;
  const vaddr = options.vaddr ?? paddr;
  const body = new Uint8Array(16 + code.length);
  const bv = new DataView(body.buffer);
  if (options.header ?? true) {
    const flags = options.flags ?? 3;
    bv.setUint32(0, 0x1badb002, true);
    bv.setUint32(4, flags, true);
    bv.setUint32(8, -(0x1badb002 + flags) >>> 0, true);
  }
  body.set(code, 16);
  const file = new Uint8Array(0x100 + body.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 3, true); // EM_386
  v.setUint32(20, 1, true);
  v.setUint32(24, vaddr + 16, true); // e_entry
  v.setUint32(28, 52, true); // e_phoff
  v.setUint16(40, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(44, 1, true);
  v.setUint32(52, 1, true); // PT_LOAD
  v.setUint32(56, 0x100, true);
  v.setUint32(60, vaddr, true);
  v.setUint32(64, paddr, true);
  v.setUint32(68, body.length, true);
  v.setUint32(72, options.memsz ?? 0x2000, true);
  v.setUint32(76, 7, true); // RWX
  file.set(body, 0x100);
  return file;
}
