import { describe, expect, it } from "vitest";
import {
  applyWrites,
  CODE_PAGES,
  createStubImage,
  DataField,
  PAGE_SIZE,
  readDescriptorBase,
  relocate,
  Selector,
  STUB_SIZE,
  StubOffset,
  stubImage,
} from "../src/index.js";

const A = 0xffbfb000;
const B = 0x00401000;

describe("relocate (moving the stub is data writes, never code)", () => {
  it("writes for base A then base B give exactly the image built for B", () => {
    const bytes = createStubImage(A);
    applyWrites(bytes, relocate(B).writes);
    expect(Buffer.from(bytes).equals(Buffer.from(createStubImage(B)))).toBe(true);
  });

  it("code pages are byte-identical at A, at B, and in the committed image", () => {
    const a = createStubImage(A);
    const b = createStubImage(B);
    const img = stubImage();
    for (const p of CODE_PAGES) {
      const range = [p * PAGE_SIZE, (p + 1) * PAGE_SIZE] as const;
      expect(Buffer.from(a.subarray(...range)).equals(Buffer.from(b.subarray(...range)))).toBe(true);
      expect(Buffer.from(a.subarray(...range)).equals(Buffer.from(img.subarray(...range)))).toBe(true);
    }
  });

  it("only descriptor base bytes and the stubBase field differ between two bases", () => {
    const a = createStubImage(A);
    const b = createStubImage(B);
    const diff: number[] = [];
    for (let i = 0; i < STUB_SIZE; i++) if (a[i] !== b[i]) diff.push(i);
    const allowed = new Set(
      relocate(A).writes.flatMap((w) => Array.from({ length: w.size }, (_, k) => w.offset + k)),
    );
    expect(diff.length).toBeGreaterThan(0);
    for (const i of diff) expect(allowed.has(i), `offset 0x${i.toString(16)}`).toBe(true);
  });

  it("sets every stub-based descriptor, GDTR, IDTR and segment base", () => {
    const r = relocate(B);
    const bytes = createStubImage(B);
    expect(readDescriptorBase(bytes, Selector.monitorCode)).toBe(B);
    expect(readDescriptorBase(bytes, Selector.monitorData)).toBe(B);
    expect(readDescriptorBase(bytes, Selector.monitorTss)).toBe(B + StubOffset.tss);
    expect(readDescriptorBase(bytes, Selector.monitorFlat)).toBe(0);
    expect(new DataView(bytes.buffer).getUint32(DataField.stubBase, true)).toBe(B);
    expect(r.gdtr).toEqual({ base: B + StubOffset.gdt, limit: 2047 });
    expect(r.idtr).toEqual({ base: B + StubOffset.idt, limit: 2047 });
    expect(r.segmentBases).toEqual([
      { selector: Selector.monitorCode, base: B },
      { selector: Selector.monitorData, base: B },
      { selector: Selector.monitorTss, base: B + StubOffset.tss },
    ]);
  });

  it("costs the same number of writes wherever the stub goes, and keeps a busy TSS busy", () => {
    const counts = new Set([0, A, B, 0xfffe0000 - STUB_SIZE].map((base) => relocate(base).writes.length));
    expect([...counts]).toEqual([21]); // 3 descriptors in 2 GDTs (3 writes each), 2 GDTR bases, stubBase
    const bytes = createStubImage(A);
    bytes[StubOffset.gdt + Selector.monitorTss + 5] = 0x8b; // LTR marked it busy
    applyWrites(bytes, relocate(B).writes);
    expect(bytes[StubOffset.gdt + Selector.monitorTss + 5]).toBe(0x8b);
  });

  it("rejects bases that are unaligned or do not fit", () => {
    expect(() => relocate(0x1234)).toThrow(RangeError);
    expect(() => relocate(0xfffff000)).toThrow(RangeError);
  });
});
