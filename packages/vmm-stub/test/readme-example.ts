import { createStubImage, DataField, relocate, Selector, STUB_PAGES, StubOffset } from "../src/index.js";

// Place the stub (5 pages) at 0xFFBFB000: its bytes, ready for the core to copy into frames.
const bytes = createStubImage(0xffbfb000);
console.log(STUB_PAGES, bytes.length); // 5 20480

// The core points the CPU at it: GDTR, IDTR, TR = Selector.monitorTss (SS0:ESP0 = the stub's stack).
const here = relocate(0xffbfb000);
console.log(here.idtr.base.toString(16), Selector.monitorTss.toString(16)); // ffbfd000 7f8

// Moving it (claims 9, 10) is 21 data writes plus GDTR/IDTR/segment bases: no code is copied.
const there = relocate(0x00401000);
console.log(there.writes.length, there.gdtr.base.toString(16)); // 21 404000

// The data page is the contract with vmm-core: e.g. where the host call port and the frame are.
console.log(DataField.hostCallPort.toString(16), StubOffset.frame.toString(16)); // 4010 4fb4

export const readmeResult = { bytes, here, there };
