import { describe, expect, it } from "vitest";
import { Uart16550, VirtualClock } from "../src/index.js";
import { RecordingLine } from "./helpers.js";

const COM1 = 0x3f8;
const THR = COM1;
const RBR = COM1;
const DLL = COM1;
const DLM = COM1 + 1;
const IER = COM1 + 1;
const IIR = COM1 + 2;
const FCR = COM1 + 2;
const LCR = COM1 + 3;
const MCR = COM1 + 4;
const LSR = COM1 + 5;
const MSR = COM1 + 6;
const SCR = COM1 + 7;

function setup(options: { out2GatesIrq?: boolean } = {}) {
  const clock = new VirtualClock();
  const irq = new RecordingLine(clock);
  const sent: number[] = [];
  const uart = new Uart16550({
    base: COM1,
    irq,
    clock,
    onTransmit: (b) => {
      sent.push(b);
    },
    ...options,
  });
  const out = (port: number, v: number) => uart.write(port, 1, v);
  const inb = (port: number) => uart.read(port, 1);
  return { clock, irq, uart, sent, out, inb };
}

describe("16550A UART", () => {
  it("decodes eight ports from its base and resets like QEMU's", () => {
    const { uart, inb } = setup();
    expect(uart.ports).toEqual([{ base: 0x3f8, count: 8 }]);
    expect(inb(IER)).toBe(0x00);
    expect(inb(IIR)).toBe(0x01);
    expect(inb(LCR)).toBe(0x00);
    expect(inb(MCR)).toBe(0x00);
    expect(inb(LSR)).toBe(0x60);
    expect(inb(MSR)).toBe(0xb0); // DCD, DSR, CTS asserted by the host side
  });

  it("transmits THR bytes to the host immediately; THRE and TEMT stay set", () => {
    const { sent, out, inb } = setup();
    out(LCR, 0x03);
    for (const c of "hi\n") out(THR, c.charCodeAt(0));
    expect(String.fromCharCode(...sent)).toBe("hi\n");
    expect(inb(LSR)).toBe(0x60);
  });

  it("DLAB switches ports 0 and 1 to the divisor latch", () => {
    const { uart, sent, out, inb } = setup();
    out(LCR, 0x83);
    out(DLL, 0x01);
    out(DLM, 0x00);
    expect(inb(DLL)).toBe(0x01);
    expect(inb(DLM)).toBe(0x00);
    expect(uart.baudRate).toBe(115200);
    expect(sent).toEqual([]); // the DLL write did not transmit
    out(LCR, 0x03);
    expect(inb(IER)).toBe(0x00); // IER untouched by the DLM write
    out(DLM + 0, 0x0f);
    expect(inb(IER)).toBe(0x0f);
  });

  it("THRE interrupt: raised when enabled with THR empty, cleared by reading IIR, re-armed by a THR write", () => {
    const { irq, out, inb } = setup();
    out(MCR, 0x08); // OUT2: the PC's IRQ enable
    out(IER, 0x02);
    expect(irq.level).toBe(true);
    expect(inb(IIR)).toBe(0x02);
    expect(irq.level).toBe(false);
    expect(inb(IIR)).toBe(0x01);
    irq.clear();
    out(THR, 0x41);
    // Writing THR drops the request; the byte leaves at once and THRE is requested again: a fresh edge.
    expect(irq.log.map((e) => e.level)).toEqual([true]);
    expect(inb(IIR)).toBe(0x02);
    // Toggling ETBEI re-raises it even after IIR acknowledged it (QEMU, Windows).
    out(IER, 0x00);
    expect(irq.level).toBe(false);
    out(IER, 0x02);
    expect(irq.level).toBe(true);
  });

  it("MCR.OUT2 gates the interrupt line on PCs; IIR reports the interrupt either way", () => {
    const { irq, out, inb } = setup();
    out(IER, 0x02);
    expect(irq.level).toBe(false);
    expect(inb(IIR) & 0x0f).toBe(0x02);
    const q = setup({ out2GatesIrq: false });
    q.out(IER, 0x02);
    expect(q.irq.level).toBe(true);
  });

  it("non-FIFO receive: DR, received-data interrupt, and host bytes paced one at a time", () => {
    const { uart, irq, out, inb } = setup();
    out(MCR, 0x08);
    out(IER, 0x01);
    uart.receive("OK");
    expect(uart.pendingInput).toBe(1);
    expect(inb(LSR) & 0x01).toBe(0x01);
    expect(irq.level).toBe(true);
    expect(inb(IIR)).toBe(0x04);
    expect(inb(RBR)).toBe(0x4f);
    expect(inb(IIR)).toBe(0x04); // the next byte moved in
    expect(inb(RBR)).toBe(0x4b);
    expect(inb(LSR) & 0x01).toBe(0x00);
    expect(inb(IIR)).toBe(0x01);
    expect(irq.level).toBe(false);
  });

  it("FIFO: IIR bits 7-6, trigger level, and host pacing to 16 bytes", () => {
    const { uart, out, inb } = setup();
    out(MCR, 0x08);
    out(IER, 0x01);
    out(FCR, 0xc7); // enable, reset both FIFOs, trigger at 14
    expect(inb(IIR)).toBe(0xc1);
    uart.receive(Array.from({ length: 13 }, (_, i) => 0x30 + i));
    expect(inb(IIR)).toBe(0xc1); // 13 < 14
    uart.receive([0x50, 0x51, 0x52, 0x53, 0x54]);
    expect(inb(IIR)).toBe(0xc4);
    expect(uart.pendingInput).toBe(2);
    const got: number[] = [];
    while (inb(LSR) & 1) got.push(inb(RBR));
    expect(got.length).toBe(18);
    expect(got[0]).toBe(0x30);
    expect(got[17]).toBe(0x54);
  });

  it("FIFO character timeout after four character times below the trigger level", () => {
    const { uart, clock, irq, out, inb } = setup();
    out(LCR, 0x83);
    out(DLL, 1); // 115200 baud: 8N1 is 10 bits, 86.8 us per character
    out(LCR, 0x03);
    out(MCR, 0x08);
    out(IER, 0x01);
    out(FCR, 0x81); // trigger at 8
    uart.receive([1, 2, 3]);
    expect(inb(IIR)).toBe(0xc1);
    clock.advance(34_000); // 340 us < 347 us
    expect(irq.level).toBe(false);
    clock.advance(1_000);
    expect(inb(IIR)).toBe(0xcc);
    expect(irq.level).toBe(true);
    expect(inb(RBR)).toBe(1);
    expect(inb(IIR)).toBe(0xc1); // the read cleared the timeout and restarted the count
    expect(irq.level).toBe(false);
    clock.advance(35_000);
    expect(inb(IIR)).toBe(0xcc);
  });

  it("interrupt priority: line status > received data > THRE > modem status (loopback overrun)", () => {
    const { sent, out, inb } = setup();
    out(MCR, 0x18); // loopback + OUT2: CTS/DSR drop (RTS/DTR are 0), DCD follows OUT2
    out(IER, 0x0f);
    out(THR, 0x11);
    out(THR, 0x22); // overruns RBR: 16450 mode keeps the newer byte
    expect(sent).toEqual([]); // loopback: nothing reaches the line
    expect(inb(IIR)).toBe(0x06);
    expect(inb(LSR)).toBe(0x63); // THRE, TEMT, OE, DR; OE clears on read
    expect(inb(IIR)).toBe(0x04);
    expect(inb(RBR)).toBe(0x22);
    expect(inb(IIR)).toBe(0x02); // THRE, cleared by this read
    expect(inb(IIR)).toBe(0x00); // modem status: DCTS, DDSR
    expect(inb(MSR)).toBe(0x80 | 0x03);
    expect(inb(IIR)).toBe(0x01);
  });

  it("loopback maps DTR, RTS, OUT1, OUT2 to DSR, CTS, RI, DCD", () => {
    const { out, inb } = setup();
    out(MCR, 0x10);
    inb(MSR);
    out(MCR, 0x1f);
    expect(inb(MSR) & 0xf0).toBe(0xf0);
    out(MCR, 0x10 | 0x04);
    // OUT1 kept: RI stays; CTS, DSR, DCD went away: their deltas.
    expect(inb(MSR)).toBe(0x40 | 0x0b);
    out(MCR, 0x10);
    // RI went away: TERI (trailing edge).
    expect(inb(MSR)).toBe(0x04);
  });

  it("modem inputs set MSR deltas; RI sets TERI only on its trailing edge", () => {
    const { uart, irq, out, inb } = setup();
    out(MCR, 0x08);
    out(IER, 0x08);
    uart.setModemInputs({ ri: true });
    expect(inb(MSR)).toBe(0xf0);
    expect(irq.level).toBe(false);
    uart.setModemInputs({ ri: false, cts: false });
    expect(irq.level).toBe(true);
    expect(inb(IIR)).toBe(0x00);
    expect(inb(MSR)).toBe(0xa0 | 0x04 | 0x01);
    expect(irq.level).toBe(false);
  });

  it("break: BI and DR set, line-status interrupt until LSR is read", () => {
    const { uart, out, inb } = setup();
    out(IER, 0x04);
    uart.receiveBreak();
    expect(inb(IIR)).toBe(0x06);
    expect(inb(LSR)).toBe(0x71);
    expect(inb(IIR)).toBe(0x01);
    expect(inb(RBR)).toBe(0);
  });

  it("scratch register and 16-bit accesses split into byte cycles", () => {
    const { uart, inb, out } = setup();
    out(SCR, 0x5a);
    expect(inb(SCR)).toBe(0x5a);
    // inw from LSR reads LSR then MSR
    expect(uart.read(LSR, 2)).toBe(0xb060);
    // an access hanging off the end reads 0xFF for the undecoded byte
    expect(uart.read(SCR, 2)).toBe(0xff5a);
  });

  it("snapshot: state and pending host input survive a JSON round trip", () => {
    const a = setup();
    a.out(MCR, 0x08);
    a.out(IER, 0x01);
    a.out(FCR, 0x01);
    a.out(SCR, 0x99);
    a.uart.receive(Array.from({ length: 20 }, (_, i) => i));
    const saved = JSON.parse(JSON.stringify({ clock: a.clock.save(), uart: a.uart.save() }));
    const b = setup();
    b.clock.restore(saved.clock);
    b.uart.restore(saved.uart);
    expect(b.irq.level).toBe(true);
    expect(b.inb(SCR)).toBe(0x99);
    const got: number[] = [];
    while (b.inb(LSR) & 1) got.push(b.inb(RBR));
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});
