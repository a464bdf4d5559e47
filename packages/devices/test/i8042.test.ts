import { describe, expect, it } from "vitest";
import { I8042 } from "../src/index.js";
import { RecordingLine } from "./helpers.js";

function setup() {
  const irq = new RecordingLine();
  const irqAux = new RecordingLine();
  const a20 = new RecordingLine();
  const reset = new RecordingLine();
  const kbc = new I8042({ irq, irqAux, a20, reset });
  const cmd = (v: number) => kbc.write(0x64, 1, v);
  const data = (v: number) => kbc.write(0x60, 1, v);
  const status = () => kbc.read(0x64, 1);
  /** Reads every byte waiting in the output buffer. */
  const drain = () => {
    const out: number[] = [];
    while (status() & 1) out.push(kbc.read(0x60, 1));
    return out;
  };
  return { kbc, irq, irqAux, a20, reset, cmd, data, status, drain };
}

describe("i8042 keyboard controller", () => {
  it("decodes 0x60 and 0x64; powers up with the keyboard unlocked and nothing to read", () => {
    const { kbc, status } = setup();
    expect(kbc.ports).toEqual([
      { base: 0x60, count: 1 },
      { base: 0x64, count: 1 },
    ]);
    expect(status()).toBe(0x18);
  });

  it("self test 0xAA answers 0x55 and sets the system flag", () => {
    const { cmd, status, drain } = setup();
    cmd(0xaa);
    expect(status() & 0x05).toBe(0x05);
    expect(drain()).toEqual([0x55]);
    expect(status() & 0x05).toBe(0x04);
  });

  it("interface tests 0xAB and 0xA9 answer 0x00", () => {
    const { cmd, drain } = setup();
    cmd(0xab);
    expect(drain()).toEqual([0x00]);
    cmd(0xa9);
    expect(drain()).toEqual([0x00]);
  });

  it("command byte read (0x20) and write (0x60); bit 3 of status tracks the last port written", () => {
    const { cmd, data, status, drain } = setup();
    cmd(0x20);
    expect(drain()).toEqual([0x03]);
    cmd(0x60);
    expect(status() & 0x08).toBe(0x08);
    data(0x65);
    expect(status() & 0x08).toBe(0x00);
    cmd(0x20);
    expect(drain()).toEqual([0x65]);
  });

  it("keyboard reset 0xFF answers ACK then 0xAA, one IRQ 1 edge per byte", () => {
    const { irq, data, kbc } = setup();
    data(0xff);
    expect(irq.level).toBe(true);
    expect(kbc.read(0x60, 1)).toBe(0xfa);
    expect(irq.level).toBe(true);
    expect(kbc.read(0x60, 1)).toBe(0xaa);
    expect(irq.level).toBe(false);
    expect(irq.risingEdges.length).toBe(2);
  });

  it("identify 0xF2: MF2 keyboard, 0x41 with translation on, 0x83 off", () => {
    const { cmd, data, drain } = setup();
    data(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x83]);
    cmd(0x60);
    data(0x41); // translate + keyboard interrupt
    data(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x41]);
  });

  it("enable/disable scanning, LEDs, scan code set, echo, unknown command", () => {
    const { kbc, data, drain } = setup();
    data(0xf5);
    expect(drain()).toEqual([0xfa]);
    kbc.pressKey([0x1c]);
    expect(drain()).toEqual([]); // scanning disabled
    data(0xf4);
    kbc.pressKey([0x1c, 0xf0, 0x1c]);
    expect(drain()).toEqual([0xfa, 0x1c, 0xf0, 0x1c]);
    data(0xed);
    data(0x07);
    expect(drain()).toEqual([0xfa, 0xfa]);
    data(0xf0);
    data(0x00);
    expect(drain()).toEqual([0xfa, 0xfa, 0x02]);
    data(0xee);
    expect(drain()).toEqual([0xee]);
    data(0x12);
    expect(drain()).toEqual([0xfe]);
  });

  it("0xAD holds keyboard data back until 0xAE; controller replies still come through", () => {
    const { kbc, cmd, drain } = setup();
    cmd(0xad);
    kbc.pressKey([0x1e]);
    cmd(0x20);
    expect(drain()).toEqual([0x13]);
    cmd(0xae);
    expect(drain()).toEqual([0x1e]);
  });

  it("IRQ 1 only when command byte bit 0 is set", () => {
    const { irq, kbc, cmd, data, drain } = setup();
    cmd(0x60);
    data(0x00);
    kbc.pressKey([0x1e]);
    expect(irq.level).toBe(false);
    expect(drain()).toEqual([0x1e]);
    cmd(0x60);
    data(0x01);
    kbc.pressKey([0x9e]);
    expect(irq.level).toBe(true);
  });

  it("output port: 0xD0 reads it, 0xD1 writes A20 and reset, 0xDD/0xDF gate A20", () => {
    const { a20, reset, cmd, data, drain } = setup();
    cmd(0xd0);
    expect(drain()).toEqual([0xcf & 0xcf]);
    cmd(0xd1);
    data(0xdd); // A20 off, reset bit high
    expect(a20.level).toBe(false);
    expect(reset.log).toEqual([]);
    cmd(0xd0);
    expect(drain()).toEqual([0xcd]);
    cmd(0xdf);
    expect(a20.level).toBe(true);
    cmd(0xd1);
    data(0xde); // reset bit low: CPU reset
    expect(reset.log.map((e) => e.level)).toEqual([true, false]);
  });

  it("pulse commands: 0xFE resets, 0xFF does not", () => {
    const { reset, cmd } = setup();
    cmd(0xff);
    expect(reset.log).toEqual([]);
    cmd(0xfe);
    expect(reset.log.map((e) => e.level)).toEqual([true, false]);
    cmd(0xf0);
    expect(reset.log.length).toBe(4);
  });

  it("aux: 0xD4 bytes are answered 0xFE by the controller (no mouse); 0xD3 echoes on IRQ 12", () => {
    const { irqAux, cmd, data, status, kbc } = setup();
    cmd(0xd4);
    data(0xf2);
    expect(status() & 0x21).toBe(0x21);
    expect(irqAux.level).toBe(true);
    expect(kbc.read(0x60, 1)).toBe(0xfe);
    cmd(0xa7);
    cmd(0xd4);
    data(0xff);
    expect(status() & 1).toBe(0); // aux disabled: held back
    cmd(0xa8);
    expect(kbc.read(0x60, 1)).toBe(0xfe);
    cmd(0xd3);
    data(0x5a);
    expect(status() & 0x21).toBe(0x21);
    expect(kbc.read(0x60, 1)).toBe(0x5a);
  });

  it("snapshot round trip keeps queued bytes and the command byte", () => {
    const a = setup();
    a.cmd(0x60);
    a.data(0x47);
    a.data(0xff);
    const saved = JSON.parse(JSON.stringify(a.kbc.save()));
    const b = setup();
    b.kbc.restore(saved);
    expect(b.irq.level).toBe(true);
    expect(b.drain()).toEqual([0xfa, 0xaa]);
    b.cmd(0x20);
    expect(b.drain()).toEqual([0x47]);
  });
});
