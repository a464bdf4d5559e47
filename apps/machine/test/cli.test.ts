/**
 * The CLI: every bad input named in issue 5 gets one line on stderr and exit status 2, never a
 * stack trace; the endings a guest can cause map to documented statuses. Most cases call main()
 * in process; two spawn the real bin (bundled from source) to check process-level behaviour.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, main } from "../src/main.js";

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

/** hello.elf with its only program header moved to physical address `paddr`. */
function helloAt(paddr: number): string {
  const image = Buffer.from(readFileSync(hello));
  const phoff = image.readUInt32LE(28);
  image.writeUInt32LE(paddr, phoff + 12);
  const path = join(tmp, `hello-at-${paddr.toString(16)}.elf`);
  writeFileSync(path, image);
  return path;
}

describe("pagurus run: bad input is one line on stderr and status 2", () => {
  const textFile = join(tmp, "notes.txt");
  const noHeader = join(tmp, "no-header.elf");
  beforeAll(() => {
    writeFileSync(textFile, "just some text, not a kernel\n");
    const image = Buffer.from(readFileSync(hello));
    image.writeUInt32LE(0, image.indexOf(Buffer.from([0x02, 0xb0, 0xad, 0x1b]))); // wipe the magic
    writeFileSync(noHeader, image);
  });

  const cases: [string, () => string[], RegExp][] = [
    [
      "missing file",
      () => ["run", join(tmp, "nope.elf")],
      /^pagurus: kernel '.*nope\.elf' does not exist\n$/,
    ],
    ["not ELF", () => ["run", textFile], /^pagurus: .*notes\.txt: not an ELF file and no Multiboot header/],
    [
      "no Multiboot header",
      () => ["run", noHeader],
      /^pagurus: .*no-header\.elf: no Multiboot header \(magic 0x1BADB002/,
    ],
    [
      "segments outside RAM",
      () => ["run", helloAt(0x7f00000), "--memory", "64M"],
      /^pagurus: .*: kernel segment 0x7f00000-0x7f[0-9a-f]{5} lies outside RAM \(64 MiB\); give more --memory\n$/,
    ],
    [
      "memory size not a number",
      () => ["run", hello, "--memory", "lots"],
      /^pagurus: --memory 'lots' is not a size/,
    ],
    ["memory size too small", () => ["run", hello, "--memory", "1M"], /^pagurus: --memory 1M is too small/],
    [
      "unknown flag",
      () => ["run", hello, "--frobnicate"],
      /^pagurus: unknown option '--frobnicate' \(see pagurus --help\)\n$/,
    ],
    [
      "missing module",
      () => ["run", hello, "--module", join(tmp, "gone.bin args")],
      /^pagurus: module '.*gone\.bin' does not exist\n$/,
    ],
    [
      "flag without a value",
      () => ["run", hello, "--max-instructions"],
      /^pagurus: --max-instructions needs a value\n$/,
    ],
    [
      "bad count",
      () => ["run", hello, "--max-instructions", "-5"],
      /^pagurus: --max-instructions '-5' is not a whole number\n$/,
    ],
    ["no kernel", () => ["run"], /^pagurus: run: no kernel given/],
    ["unknown command", () => ["boot", hello], /^pagurus: unknown command 'boot'/],
    ["--seed that is not a number", () => ["run", hello, "--vmm", "--seed", "x"], /^pagurus: --seed/],
  ];
  it.each(cases)("%s", async (_name, args, message) => {
    const r = await cli(...args());
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.status).toBe(ExitStatus.Usage);
    expect(r.stdout).toBe("");
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
      `${mod} x=1`,
      "--serial",
      `file:${out}`,
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    const serial = readFileSync(out, "latin1");
    expect(serial).toContain("cmdline after name 'a b c'");
    expect(serial).toContain("'mod.txt x=1' first bytes 4D4F4455");
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

  it("traces exceptions on stderr", async () => {
    const r = await cli("run", join(guests, "pagefault.elf"), "--trace", "exceptions", "--serial", "none");
    expect(r.stderr).toMatch(/^exception vector 0e error 00000002 cr2 00400020 at 0008:[0-9a-f]{8}$/m);
  });
});

describe("the pagurus bin as a process", () => {
  let bin = "";
  beforeAll(async () => {
    // Bundle src/cli.ts and the workspace packages' sources into one file with the esbuild that
    // tsup brings, so the test needs no prior build.
    const fromTsup = createRequire(createRequire(import.meta.url).resolve("tsup"));
    const esbuild = (await import(pathToFileURL(fromTsup.resolve("esbuild")).href)) as {
      build(options: Record<string, unknown>): Promise<unknown>;
    };
    bin = join(tmp, "cli.mjs");
    await esbuild.build({
      entryPoints: [join(import.meta.dirname, "../src/cli.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      conditions: ["source"],
      outfile: bin,
      logLevel: "silent",
    });
  });

  it("exits 2 with one line and no stack trace for a missing kernel", () => {
    const r = spawnSync(process.execPath, [bin, "run", "/no/such/kernel.elf"], { encoding: "utf8" });
    expect(r.status).toBe(2);
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

  it("boots a kernel, feeds COM1 from stdin and exits with the guest's status", () => {
    const r = spawnSync(process.execPath, [bin, "run", join(guests, "serial_rx.elf")], {
      input: "ping\n",
      encoding: "latin1",
    });
    expect(r.stdout).toContain("received: ping\n");
    expect(r.status).toBe(1);
  });
});
