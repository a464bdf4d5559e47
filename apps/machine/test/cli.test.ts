/**
 * The CLI: every bad input named in issues 5 and 16 gets one line on stderr and its documented
 * exit status, never a stack trace; the endings a guest can cause map to documented statuses.
 * Most cases call main() in process; some spawn the real bin (bundled from source) to check
 * process-level behaviour: a closed stdout, a slow reader, stdin.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, main } from "../src/main.js";
import { bundleBin } from "./bin.js";
import { multibootElf } from "./elf.js";

const guests = join(import.meta.dirname, "../../../tooling/guests/build");
const hello = join(guests, "hello.elf");
const tmp = mkdtempSync(join(tmpdir(), "pagurus-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const status = await main(argv, {
    stdout: (d) => {
      stdout += typeof d === "string" ? d : Buffer.from(d).toString("latin1");
    },
    stderr: (t) => {
      stderr += t;
    },
  });
  return { status, stdout, stderr };
}

/** hello.elf with its only program header moved to physical address `paddr` (and its size). */
function helloAt(paddr: number, memsz?: number): string {
  const image = Buffer.from(readFileSync(hello));
  const phoff = image.readUInt32LE(28);
  image.writeUInt32LE(paddr, phoff + 12);
  if (memsz !== undefined) image.writeUInt32LE(memsz, phoff + 20);
  const path = join(tmp, `hello-at-${paddr.toString(16)}-${memsz ?? 0}.elf`);
  writeFileSync(path, image);
  return path;
}

/** A file in the test's folder. */
function file(name: string, data: Uint8Array | string): string {
  const path = join(tmp, name);
  writeFileSync(path, data);
  return path;
}

/** hello.elf with bytes changed: `edit` gets the image. */
function helloEdited(name: string, edit: (image: Buffer) => void): string {
  const image = Buffer.from(readFileSync(hello));
  edit(image);
  return file(name, image);
}

/** A minimal kernel with two PT_LOAD segments over the same page, as QEMU refuses. */
function overlappingSegments(): string {
  const image = multibootElf(Uint8Array.of(0xf4), { memsz: 0x1000 });
  const phoff = 52;
  const out = new Uint8Array(image.length + 32);
  out.set(image);
  const v = new DataView(out.buffer);
  v.setUint16(44, 2, true); // e_phnum: a second header after the first
  out.copyWithin(phoff + 32, phoff, phoff + 32);
  // The payload moved down by 32 bytes: point both headers at it.
  out.copyWithin(0x120, 0x100, image.length);
  v.setUint32(phoff + 4, 0x120, true);
  v.setUint32(phoff + 32 + 4, 0x120, true);
  v.setUint32(phoff + 32 + 12, 0x100800, true); // the second starts inside the first's page
  return file("overlap.elf", out);
}

const fifo = join(tmp, "kernel.fifo");

describe("pagurus run: bad input is one line on stderr and its own status", () => {
  const textFile = join(tmp, "notes.txt");
  const noHeader = join(tmp, "no-header.elf");
  beforeAll(() => {
    writeFileSync(textFile, "just some text, not a kernel\n");
    const image = Buffer.from(readFileSync(hello));
    image.writeUInt32LE(0, image.indexOf(Buffer.from([0x02, 0xb0, 0xad, 0x1b]))); // wipe the magic
    writeFileSync(noHeader, image);
    execFileSync("mkfifo", [fifo]);
  });

  const { Usage, BadFile, BadKernel, SerialError } = ExitStatus;
  const cases: [string, () => string[], RegExp, number][] = [
    [
      "missing file",
      () => ["run", join(tmp, "nope.elf")],
      /^pagurus: kernel '.*nope\.elf' does not exist\n$/,
      BadFile,
    ],
    [
      "a FIFO as kernel",
      () => ["run", fifo],
      /^pagurus: kernel '.*kernel\.fifo' is a FIFO, not a regular file\n$/,
      BadFile,
    ],
    [
      "/dev/zero as kernel",
      () => ["run", "/dev/zero"],
      /^pagurus: kernel '\/dev\/zero' is a character device, not a regular file\n$/,
      BadFile,
    ],
    [
      "a directory as kernel",
      () => ["run", tmp],
      /^pagurus: kernel '.*' is a directory, not a regular file\n$/,
      BadFile,
    ],
    [
      "an empty kernel",
      () => ["run", file("empty.elf", "")],
      /^pagurus: kernel '.*empty\.elf' is empty\n$/,
      BadFile,
    ],
    [
      "a kernel larger than RAM",
      () => ["run", file("big.elf", new Uint8Array(3 * 1024 * 1024)), "--memory", "2M"],
      /^pagurus: kernel '.*big\.elf' is 3145728 bytes, more than the 2 MiB of RAM it would be loaded into\n$/,
      BadFile,
    ],
    [
      "a FIFO as module",
      () => ["run", hello, "--module", fifo],
      /^pagurus: module '.*kernel\.fifo' is a FIFO, not a regular file\n$/,
      BadFile,
    ],
    [
      "not ELF",
      () => ["run", textFile],
      /^pagurus: .*notes\.txt: not an ELF file and no Multiboot header/,
      BadKernel,
    ],
    [
      "no Multiboot header",
      () => ["run", noHeader],
      /^pagurus: .*no-header\.elf: no Multiboot header \(magic 0x1BADB002/,
      BadKernel,
    ],
    [
      "segments outside RAM",
      () => ["run", helloAt(0x7f00000), "--memory", "64M"],
      /^pagurus: .*: kernel segment 0x7f00000-0x7f[0-9a-f]{5} lies outside RAM \(64 MiB\); give more --memory\n$/,
      BadKernel,
    ],
    [
      "a segment that wraps past 4 GiB: its real end, and no advice about --memory",
      () => ["run", helloAt(0xfffff000, 0x2000)],
      /^pagurus: .*: kernel segment 0xfffff000-0x100000fff lies outside RAM \(64 MiB\), and it runs past 4 GiB\n$/,
      BadKernel,
    ],
    [
      "a segment above the largest RAM: no advice about --memory",
      () => ["run", helloAt(0xc0000000)],
      /^pagurus: .*: kernel segment 0xc0000000-0xc000[0-9a-f]{4} lies outside RAM \(64 MiB\), and above the largest RAM \(2048 MiB\)\n$/,
      BadKernel,
    ],
    [
      "ELF class 0 is not called 64-bit",
      () => ["run", helloEdited("class0.elf", (image) => image.writeUInt8(0, 4))],
      /^pagurus: .*class0\.elf: ELF class 0 is neither 32-bit nor 64-bit \(e_ident\[EI_CLASS\] must be 1, ELFCLASS32\)\n$/,
      BadKernel,
    ],
    [
      "ELF class 2 is 64-bit",
      () => ["run", helloEdited("class2.elf", (image) => image.writeUInt8(2, 4))],
      /^pagurus: .*class2\.elf: a 64-bit ELF kernel/,
      BadKernel,
    ],
    [
      "overlapping PT_LOAD segments",
      () => ["run", overlappingSegments()],
      /^pagurus: .*overlap\.elf: ELF segments 0x100000-0x100fff and 0x100800-0x1017ff overlap\n$/,
      BadKernel,
    ],
    [
      "serial output to /dev/full",
      () => ["run", hello, "--serial", "file:/dev/full"],
      /^pagurus: --serial file '\/dev\/full' cannot be written: no space left on device \(ENOSPC\)\n$/,
      SerialError,
    ],
    [
      "serial output to /proc/version",
      () => ["run", hello, "--serial", "file:/proc/version"],
      /^pagurus: --serial file '\/proc\/version' cannot be (opened|written): .* \([A-Z]+\)\n$/,
      SerialError,
    ],
    [
      "serial output into a missing folder",
      () => ["run", hello, "--serial", `file:${join(tmp, "no", "such", "dir")}`],
      /^pagurus: --serial file '.*dir' cannot be opened: no such file or directory \(ENOENT\)\n$/,
      SerialError,
    ],
    [
      "a module without a path",
      () => ["run", hello, "--module", ",x=1"],
      /^pagurus: --module ',x=1': no path \(use --module PATH\[,ARGS\]\)\n$/,
      Usage,
    ],
    [
      "bad --clock",
      () => ["run", hello, "--clock", "fast"],
      /^pagurus: --clock 'fast': use virtual or host\n$/,
      Usage,
    ],
    [
      "memory size not a number",
      () => ["run", hello, "--memory", "lots"],
      /^pagurus: --memory 'lots' is not a size/,
      Usage,
    ],
    [
      "memory size too small",
      () => ["run", hello, "--memory", "1M"],
      /^pagurus: --memory 1M is too small/,
      Usage,
    ],
    [
      "unknown flag",
      () => ["run", hello, "--frobnicate"],
      /^pagurus: unknown option '--frobnicate' \(see pagurus --help\)\n$/,
      Usage,
    ],
    [
      "missing module",
      () => ["run", hello, "--module", `${join(tmp, "gone.bin")},args`],
      /^pagurus: module '.*gone\.bin' does not exist\n$/,
      BadFile,
    ],
    [
      "flag without a value",
      () => ["run", hello, "--max-instructions"],
      /^pagurus: --max-instructions needs a value\n$/,
      Usage,
    ],
    [
      "bad count",
      () => ["run", hello, "--max-instructions", "-5"],
      /^pagurus: --max-instructions '-5' is not a whole number\n$/,
      Usage,
    ],
    ["no kernel", () => ["run"], /^pagurus: run: no kernel given/, Usage],
    ["unknown command", () => ["boot", hello], /^pagurus: unknown command 'boot'/, Usage],
    ["help for an unknown command", () => ["help", "boot"], /^pagurus: help: no help for 'boot'/, Usage],
    ["--seed that is not a number", () => ["run", hello, "--vmm", "--seed", "x"], /^pagurus: --seed/, Usage],
  ];
  it.each(cases)("%s", async (_name, args, message, status) => {
    const r = await cli(...args());
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.status).toBe(status);
    expect(r.stdout).toBe("");
  });

  it("gives every status its own number", () => {
    const values = Object.values(ExitStatus);
    expect(new Set(values).size).toBe(values.length);
    // The guest's own statuses are odd: none of pagurus's may be.
    for (const v of values) expect(v % 2).toBe(0);
  });
});

describe("pagurus run --vmm", () => {
  it("runs the kernel under the monitor with the same output and status, and reports the monitor", async () => {
    const bare = await cli("run", hello);
    const r = await cli("run", hello, "--vmm", "--seed", "7", "--stats", "json");
    expect(r.stdout).toBe(bare.stdout);
    expect(r.status).toBe(bare.status);
    const stats = JSON.parse(r.stderr);
    expect(stats.mode).toBe("vmm");
    expect(stats.monitor.stub.coreHandled).toBeGreaterThan(0);
    expect(stats.monitor.stub.worldSwitches).toBe(stats.monitor.stub.coreHandled);
    expect(stats.monitor.stubBase).toMatch(/^[0-9a-f]{8}$/);
    expect(stats.monitor.relocationsByReason).toEqual({
      "conflict-unused": 0,
      "conflict-random": 0,
      "periodic-hot": 0,
      "unused-available": 0,
    });
  });
});

describe("pagurus run: guest endings", () => {
  it("exits with the guest's debug-exit status and prints its serial output", async () => {
    const r = await cli("run", hello);
    expect(r.stdout).toContain("hello from a multiboot kernel\n");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("");
  });

  it("ends a triple fault with a register dump and status 4", async () => {
    const r = await cli("run", join(guests, "triple_fault.elf"));
    expect(r.status).toBe(ExitStatus.TripleFault);
    expect(r.stderr).toMatch(/^pagurus: triple fault, the CPU shut down/);
    expect(r.stderr).toMatch(/EIP=[0-9a-f]{8} EFLAGS=/);
    expect(r.stderr).toMatch(/CR0=00000011/);
  });

  it("stops at --max-instructions with status 6", async () => {
    const r = await cli("run", join(guests, "pit_timer.elf"), "--max-instructions", "1000");
    expect(r.status).toBe(ExitStatus.InstructionLimit);
    expect(r.stderr).toBe("pagurus: stopped after 1000 instructions (--max-instructions)\n");
  });

  it("reports --stats json with exceptions and interrupts by vector", async () => {
    const r = await cli("run", join(guests, "syscalls.elf"), "--stats", "json");
    const stats = JSON.parse(r.stderr) as Record<string, unknown>;
    expect(stats.instructions).toBeGreaterThan(1000);
    expect(stats.softwareInterrupts).toEqual({ "128": 10 });
    expect(stats.exit).toBe("debug-exit");
    expect(typeof stats.mips).toBe("number");
  });

  it("--blocks on|off: the same run either way; --stats says which, with MIPS by CPU time", async () => {
    const on = await cli("run", join(guests, "syscalls.elf"), "--stats", "json", "--blocks", "on");
    const off = await cli("run", join(guests, "syscalls.elf"), "--stats", "json", "--blocks=off");
    const a = JSON.parse(on.stderr) as Record<string, unknown>;
    const b = JSON.parse(off.stderr) as Record<string, unknown>;
    expect([a.blocks, b.blocks]).toEqual([true, false]);
    expect(on.stdout).toBe(off.stdout);
    expect(a.instructions).toBe(b.instructions);
    expect(typeof a.cpuSeconds).toBe("number");
    expect(typeof a.wallMips).toBe("number");
    const text = await cli("run", join(guests, "syscalls.elf"), "--stats", "text", "--blocks", "off");
    expect(text.stderr).toMatch(/^CPU time {12}\d+\.\d{3} s/m);
    expect(text.stderr).toMatch(/^MIPS {16}\d+\.\d\d \(instructions \/ CPU time/m);
    expect(text.stderr).toMatch(/^compiled blocks {5}off$/m);
    const bad = await cli("run", join(guests, "syscalls.elf"), "--blocks", "maybe");
    expect(bad.status).toBe(ExitStatus.Usage);
    expect(bad.stderr).toBe("pagurus: --blocks 'maybe': use on or off\n");
  });

  it("passes --append and --module to the kernel and writes serial to a file", async () => {
    const mod = join(tmp, "mod.txt");
    writeFileSync(mod, "MODULE");
    const out = join(tmp, "serial.txt");
    const r = await cli(
      "run",
      join(guests, "mbinfo.elf"),
      "--append",
      "a b c",
      "--module",
      `${mod},x=1`,
      "--serial",
      `file:${out}`,
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    const serial = readFileSync(out, "latin1");
    expect(serial).toContain("cmdline after name 'a b c'");
    expect(serial).toContain("'mod.txt x=1' first bytes 4D4F4455");
  });

  it("takes a module path with a space and a comma, and passes --append as UTF-8", async () => {
    const mod = join(tmp, "my mod,1.txt");
    writeFileSync(mod, "MODULE");
    const out = join(tmp, "serial-utf8.txt");
    const r = await cli(
      "run",
      join(guests, "mbinfo.elf"),
      "--append",
      "café ünï",
      "--module",
      `${mod.replaceAll(",", ",,")},x=1,y`,
      "--serial",
      `file:${out}`,
    );
    expect(r.status).toBe(1);
    const serial = readFileSync(out);
    expect(serial.includes(Buffer.from("cmdline after name 'café ünï'", "utf8"))).toBe(true);
    expect(serial.toString("latin1")).toContain("'my mod,1.txt x=1,y' first bytes 4D4F4455");
  });

  it("prints a triple fault's EIP as unsigned hex", async () => {
    // Entry at 0xdeadbeef: no RAM there, the fetch reads 0xff bytes (#UD), and no IDT handles it.
    const kernel = helloEdited("entry-deadbeef.elf", (image) => image.writeUInt32LE(0xdeadbeef, 24));
    const r = await cli("run", kernel);
    expect(r.status).toBe(ExitStatus.TripleFault);
    expect(r.stderr).toMatch(
      /^pagurus: triple fault, the CPU shut down \(triple fault: .* at 8:deadbeef\)\n/,
    );
  });

  it("ends an idle guest whose input has ended with one line and status 8", async () => {
    // serial_rx masks every IRQ but COM1's, so its armed PIT cannot wake it: only input could.
    const r = await cli("run", join(guests, "serial_rx.elf"), "--serial", "none");
    expect(r.stderr).toBe("pagurus: the guest halted waiting for input, and stdin has ended\n");
    expect(r.status).toBe(ExitStatus.Halted);
  });

  it("traces port accesses on stderr", async () => {
    const r = await cli("run", hello, "--trace", "io", "--serial", "none");
    expect(r.stderr).toMatch(/^io out8 port 03fb value 80$/m);
    expect(r.stderr).toMatch(/^io out8 port 00f4 value 00$/m);
  });

  it("prints the usage for --help", async () => {
    const r = await cli("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: pagurus run KERNEL/);
  });

  it.each([
    ["run", "--help"],
    ["run", hello, "-h"],
    ["help", "run"],
  ])("prints run's help for %s %s", async (...argv) => {
    const r = await cli(...argv);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^usage: pagurus run KERNEL \[options\]\n/);
    expect(r.stdout).toContain("--module PATH[,ARGS]");
    expect(r.stdout).toContain("--clock virtual|host");
  });

  it("prints its version", async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, "../package.json"), "utf8"));
    const r = await cli("--version");
    expect(r).toEqual({ status: 0, stdout: `pagurus ${version}\n`, stderr: "" });
  });

  it("traces exceptions on stderr", async () => {
    const r = await cli("run", join(guests, "pagefault.elf"), "--trace", "exceptions", "--serial", "none");
    expect(r.stderr).toMatch(/^exception vector 0e error 00000002 cr2 00400020 at 0008:[0-9a-f]{8}$/m);
  });
});

describe("the pagurus bin as a process", () => {
  let bin = "";
  beforeAll(async () => {
    bin = await bundleBin(tmp);
  });

  it("exits with one line and no stack trace for a missing kernel", () => {
    const r = spawnSync(process.execPath, [bin, "run", "/no/such/kernel.elf"], { encoding: "utf8" });
    expect(r.status).toBe(ExitStatus.BadFile);
    expect(r.stderr).toBe("pagurus: kernel '/no/such/kernel.elf' does not exist\n");
  });

  it("does not wait for an open stdin once the guest is done", async () => {
    const child = spawn(process.execPath, [bin, "run", hello], { stdio: ["pipe", "ignore", "ignore"] });
    const started = performance.now();
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(1);
    expect(performance.now() - started).toBeLessThan(10_000);
    child.stdin.destroy();
  });

  /** A kernel that writes 'x' to COM1 forever, waiting for THRE before each byte. */
  const flood = () =>
    file(
      "flood.elf",
      multibootElf(
        Uint8Array.from([
          ...[0x66, 0xba, 0xfd, 0x03, 0xec, 0xa8, 0x20, 0x74, 0xfb], // mov dx,0x3fd; in al,dx; test al,0x20; jz
          ...[0x66, 0xba, 0xf8, 0x03, 0xb0, 0x78, 0xee, 0x66, 0xba, 0xfd, 0x03, 0xeb, 0xee], // out 'x'; jmp
        ]),
      ),
    );

  it("ends cleanly when stdout's reader goes away (| head -c 1): status 18, stats still printed", async () => {
    const child = spawn(process.execPath, [bin, "run", flood(), "--stats", "json"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const first = await new Promise<Buffer>((resolve) => child.stdout.once("data", resolve));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(first[0]).toBe(0x78);
    expect(code).toBe(ExitStatus.OutputClosed);
    expect(JSON.parse(stderr).exit).toBe("stopped");
  });

  it("holds a guest that writes faster than its reader takes: memory stays bounded", async () => {
    const child = spawn(process.execPath, [bin, "run", flood()], { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.pause(); // nobody reads: the pipe fills, then Node's buffer, then COM1's THR
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    const rssMiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    // Without backpressure the buffered output grew by hundreds of MiB a second.
    expect(rssMiB).toBeLessThan(200);
    expect(code).toBe(ExitStatus.Signal + 15);
  });

  it("ends an idle guest run with stdin at /dev/null by itself", () => {
    const r = spawnSync(process.execPath, [bin, "run", join(guests, "serial_rx.elf")], {
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "latin1",
      timeout: 20_000,
    });
    expect(r.stdout).toContain("ready\n");
    expect(r.stderr).toBe("pagurus: the guest halted waiting for input, and stdin has ended\n");
    expect(r.status).toBe(ExitStatus.Halted);
  });

  it("boots a kernel, feeds COM1 from stdin and exits with the guest's status", () => {
    const r = spawnSync(process.execPath, [bin, "run", join(guests, "serial_rx.elf")], {
      input: "ping\n",
      encoding: "latin1",
    });
    expect(r.stdout).toContain("received: ping\n");
    expect(r.status).toBe(1);
  });
});
