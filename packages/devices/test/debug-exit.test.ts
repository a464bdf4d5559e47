import { describe, expect, it } from "vitest";
import { IsaDebugExit } from "../src/index.js";

describe("isa-debug-exit", () => {
  it("decodes 0xF4-0xF7 like -device isa-debug-exit,iobase=0xf4,iosize=4", () => {
    const dev = new IsaDebugExit({ onExit: () => {} });
    expect(dev.ports).toEqual([{ base: 0xf4, count: 4 }]);
    expect(new IsaDebugExit({ onExit: () => {}, base: 0x501, size: 2 }).ports).toEqual([
      { base: 0x501, count: 2 },
    ]);
  });

  it("a write of v exits with (v << 1) | 1, at any width and any of its ports", () => {
    const codes: number[] = [];
    const dev = new IsaDebugExit({ onExit: (c) => codes.push(c) });
    dev.write(0xf4, 1, 0x00);
    dev.write(0xf4, 1, 0x10);
    dev.write(0xf4, 1, 0x1ff); // an 8-bit OUT carries 8 bits
    dev.write(0xf5, 2, 0x1234);
    dev.write(0xf4, 4, 0x80000000);
    expect(codes).toEqual([1, 0x21, 0x1ff, 0x2469, 0x100000001]);
    // What a shell sees as the exit status:
    expect(codes.map((c) => c % 256)).toEqual([1, 0x21, 0xff, 0x69, 1]);
  });

  it("reads return 0 (QEMU's debug_exit_read)", () => {
    const dev = new IsaDebugExit({ onExit: () => {} });
    expect(dev.read(0xf4, 1)).toBe(0);
    expect(dev.read(0xf4, 4)).toBe(0);
  });

  it("has an empty snapshot", () => {
    const dev = new IsaDebugExit({ onExit: () => {} });
    expect(dev.save()).toEqual({});
    dev.restore({});
  });
});
