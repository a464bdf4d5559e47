import { describe, expect, it } from "vitest";
import {
  DataField,
  DEFAULT_HOST_CALL_PORT,
  ENTRY_SIZE,
  ERROR_CODE_VECTORS,
  GUEST_GDT_SLOTS,
  Selector,
  STUB_HEADER,
  StubOffset,
  stubImage,
} from "../src/index.js";

const img = stubImage();
const view = new DataView(img.buffer, img.byteOffset, img.byteLength);
const u32 = (o: number) => view.getUint32(o, true);
const u16 = (o: number) => view.getUint16(o, true);

describe("layout constants agree with the assembled image", () => {
  it("header table at offset 0 matches STUB_HEADER, field by field", () => {
    const actual = STUB_HEADER.map(([name], i) => [name, u32(i * 4)]);
    expect(actual).toEqual(STUB_HEADER.map(([name, value]) => [name, value]));
  });

  it("every IDT gate is a present 32-bit interrupt gate to its entry stub (DPL 0 below 32, 3 above)", () => {
    for (let v = 0; v < 256; v++) {
      const g = StubOffset.idt + v * 8;
      const offset = u16(g) | (u16(g + 6) << 16);
      expect(offset).toBe(StubOffset.entries + v * ENTRY_SIZE);
      expect(u16(g + 2)).toBe(Selector.monitorCode);
      expect(img[g + 5]).toBe(v < 32 ? 0x8e : 0xee);
    }
  });

  it("entry stubs push a dummy error code exactly where the CPU does not (SDM 6.13), then the vector", () => {
    for (let v = 0; v < 256; v++) {
      let e = StubOffset.entries + v * ENTRY_SIZE;
      if (!ERROR_CODE_VECTORS.includes(v)) {
        expect([img[e], img[e + 1]], `vector ${v}`).toEqual([0x6a, 0x00]); // push byte 0
        e += 2;
      }
      // push imm8 (vectors < 128) or push imm32
      if (img[e] === 0x6a) {
        expect(img[e + 1]).toBe(v);
        e += 2;
      } else {
        expect(img[e]).toBe(0x68);
        expect(u32(e + 1)).toBe(v);
        e += 5;
      }
      expect(img[e]).toBe(0xe9); // jmp rel32 to the common entry
      expect((e + 5 + view.getInt32(e + 1, true)) >>> 0).toBe(StubOffset.commonEntry);
    }
  });

  it("the monitor's descriptors: code/data based at the stub, flat data, TSS", () => {
    const d = (sel: number) => StubOffset.gdt + sel;
    expect(img[d(Selector.monitorCode) + 5]).toBe(0x9b);
    expect(img[d(Selector.monitorData) + 5]).toBe(0x93);
    expect(img[d(Selector.monitorFlat) + 5]).toBe(0x93);
    expect(img[d(Selector.monitorFlat) + 6]).toBe(0xcf);
    expect(img[d(Selector.monitorTss) + 5]).toBe(0x89);
    expect(Selector.monitorCode / 8).toBe(GUEST_GDT_SLOTS);
    // The guest's slots are empty until the core fills them.
    expect(img.subarray(StubOffset.gdt, StubOffset.gdt + GUEST_GDT_SLOTS * 8).every((b) => b === 0)).toBe(
      true,
    );
  });

  it("the TSS sends ring-0 entries to the stub's stack, stub-relative; no I/O bitmap", () => {
    expect(u32(StubOffset.tss + 4)).toBe(StubOffset.stackTop);
    expect(u32(StubOffset.tss + 8)).toBe(Selector.monitorData);
    expect(u16(StubOffset.tss + 102)).toBe(104);
    expect(StubOffset.frame).toBe(StubOffset.stackTop - 76);
  });

  it("data page defaults", () => {
    expect(u32(DataField.hostCallPort)).toBe(DEFAULT_HOST_CALL_PORT);
    expect(u32(DataField.guestRpl)).toBe(3);
    expect(u32(DataField.pendingVector)).toBe(0xffffffff);
    expect(u32(DataField.vcpl)).toBe(0);
    const bit = (v: number) => (img[DataField.reflectBitmap + (v >> 3)] >> (v & 7)) & 1;
    for (const v of [0, 6, 7, 16, 32, 0x80, 255]) expect(bit(v), `vector ${v}`).toBe(1);
    for (const v of [1, 2, 8, 13, 14, 18]) expect(bit(v), `vector ${v}`).toBe(0);
  });
});
