import { describe, expect, it } from "vitest";
import {
  compressDescriptor,
  FrameField,
  gdtSlotOffset,
  readFrame,
  STUB_SIZE,
  StubOffset,
  writeFrame,
} from "../src/index.js";

describe("frame and descriptor helpers", () => {
  it("readFrame/writeFrame go through the frame's offsets", () => {
    const mem = new DataView(new ArrayBuffer(STUB_SIZE));
    const read32 = (o: number) => mem.getUint32(o, true);
    const write32 = (o: number, v: number) => mem.setUint32(o, v, true);
    writeFrame(write32, { eax: 0xdeadbeef, eip: 0x1234, ss: 0x23 });
    expect(read32(StubOffset.frame + FrameField.eax)).toBe(0xdeadbeef);
    expect(readFrame(read32)).toMatchObject({ eax: 0xdeadbeef, eip: 0x1234, ss: 0x23, ecx: 0 });
  });

  it("compressDescriptor raises DPL 0 to the guest kernel's ring and nulls system descriptors", () => {
    const kernelCode: [number, number] = [0x0000ffff, 0x00cf9a00]; // DPL 0 code
    // DPL 0 -> 3 (or 1), and the AVL bit (KERNEL_ONLY_BIT) set: the guest kept it from ring 3
    expect(compressDescriptor(...kernelCode, 3)).toEqual([0x0000ffff, 0x00dffa00]);
    expect(compressDescriptor(...kernelCode, 1)).toEqual([0x0000ffff, 0x00dfba00]);
    expect(compressDescriptor(0x0000ffff, 0x00cff200, 1)).toEqual([0x0000ffff, 0x00cff200]); // DPL 3 stays
    expect(compressDescriptor(0x20000067, 0x00008900, 3)).toEqual([0, 0]); // a TSS
    expect(() => compressDescriptor(...kernelCode, 0)).toThrow(RangeError);
    expect(gdtSlotOffset(2)).toBe(StubOffset.gdt + 16);
    expect(() => gdtSlotOffset(504)).toThrow(RangeError);
  });
});
