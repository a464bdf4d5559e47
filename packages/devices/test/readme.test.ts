// The README's first example, verbatim between the markers (checked below), run as a test.
// README:start
import { Pit8254, Uart16550, VirtualClock } from "@pagurus/devices";
import type { IoPortHandler, IrqLine } from "@pagurus/spec";

// Virtual time: one tick per executed instruction, 100 MHz by default.
const clock = new VirtualClock();

// Devices only see wires. This one counts rising edges.
let timerTicks = 0;
let level = false;
const irq0: IrqLine = {
  set(next) {
    if (next && !level) timerTicks++;
    level = next;
  },
};

let output = "";
const uart = new Uart16550({
  base: 0x3f8,
  clock,
  irq: { set() {} },
  onTransmit: (byte) => {
    output += String.fromCharCode(byte);
  },
});
const pit = new Pit8254({ clock, irq: irq0 });

// A hand-written port map instead of a bus: port number -> device.
const ports = new Map<number, IoPortHandler>();
for (const device of [uart, pit]) {
  for (const { base, count } of device.ports) {
    for (let p = base; p < base + count; p++) ports.set(p, device);
  }
}
const outb = (port: number, value: number) => ports.get(port)?.write(port, 1, value);
const inb = (port: number) => ports.get(port)?.read(port, 1) ?? 0xff;

// What a guest's driver does: 115200 baud 8N1, then send while THR is empty (LSR bit 5).
outb(0x3fb, 0x80);
outb(0x3f8, 0x01);
outb(0x3f9, 0x00);
outb(0x3fb, 0x03);
for (const c of "Hello from COM1\n") {
  while ((inb(0x3fd) & 0x20) === 0) {}
  outb(0x3f8, c.charCodeAt(0));
}

// PIT counter 0, mode 2, 1193 clocks: IRQ 0 at 1000 Hz. Let 10 ms of guest time pass.
outb(0x43, 0x34);
outb(0x40, 1193 & 0xff);
outb(0x40, 1193 >> 8);
timerTicks = 0;
clock.advance(clock.frequency / 100);

console.log(JSON.stringify(output)); // "Hello from COM1\n"
console.log(timerTicks); // 10

// README:end

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe("README", () => {
  it("its first example is this file's example, verbatim", () => {
    const self = readFileSync(new URL(import.meta.url), "utf8");
    const example = self.split("// README:start\n")[1].split("// README:end\n")[0];
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const firstBlock = readme.split("```ts\n")[1].split("```\n")[0];
    expect(firstBlock).toBe(example);
  });

  it("prints the greeting and counts ten timer interrupts", () => {
    expect(output).toBe("Hello from COM1\n");
    expect(timerTicks).toBe(10);
  });
});
