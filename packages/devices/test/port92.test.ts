import { describe, expect, it } from "vitest";
import { Port92 } from "../src/index.js";
import { RecordingLine } from "./helpers.js";

describe("port 0x92 (System Control Port A)", () => {
  it("bit 1 drives A20; a 0->1 transition of bit 0 pulses reset; reads return the last write", () => {
    const a20 = new RecordingLine();
    const reset = new RecordingLine();
    const port = new Port92({ a20, reset });
    expect(port.ports).toEqual([{ base: 0x92, count: 1 }]);
    expect(port.read(0x92, 1)).toBe(0x00);
    port.write(0x92, 1, 0x02);
    expect(a20.level).toBe(true);
    expect(port.read(0x92, 1)).toBe(0x02);
    expect(reset.log).toEqual([]);
    port.write(0x92, 1, 0x03);
    expect(reset.log.map((e) => e.level)).toEqual([true, false]);
    port.write(0x92, 1, 0x03); // already set: no new pulse
    expect(reset.log.length).toBe(2);
    port.write(0x92, 1, 0x00);
    expect(a20.level).toBe(false);
    expect(port.a20).toBe(false);
    port.write(0x92, 1, 0x01);
    expect(reset.log.length).toBe(4);
  });

  it("snapshot restores the value and re-drives A20", () => {
    const a = new Port92({ a20: new RecordingLine(), reset: new RecordingLine() });
    a.write(0x92, 1, 0x02);
    const a20 = new RecordingLine();
    const b = new Port92({ a20, reset: new RecordingLine() });
    b.restore(JSON.parse(JSON.stringify(a.save())));
    expect(a20.level).toBe(true);
    expect(b.read(0x92, 1)).toBe(0x02);
  });
});
