/**
 * The console (issue 16 point 1): with a terminal on stdin, pagurus puts it in raw mode, every
 * key goes to COM1 (Ctrl-C too), Ctrl-A is the escape prefix, and the terminal comes back as it
 * was on every way out. The process tests drive the real bin through a pseudo-terminal made by
 * util-linux's `script` (Debian's bsdutils), which tooling/scripts/ensure-tools.sh installs.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleInput } from "../src/console.js";
import { bundleBin } from "./bin.js";

const guests = join(import.meta.dirname, "../../../tooling/guests/build");
const tmp = mkdtempSync(join(tmpdir(), "pagurus-console-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the console's keys", () => {
  function keys(...chunks: string[]) {
    const events: string[] = [];
    const input = new ConsoleInput({
      send: (bytes) => events.push(`send ${JSON.stringify(Buffer.from(bytes).toString("latin1"))}`),
      quit: () => events.push("quit"),
      help: () => events.push("help"),
      stats: () => events.push("stats"),
    });
    for (const c of chunks) input.feed(Buffer.from(c, "latin1"));
    return events;
  }

  it("passes every other byte through, Ctrl-C included", () => {
    expect(keys("ls -l\x03\r")).toEqual(['send "ls -l\\u0003\\r"']);
  });

  it("takes the key after Ctrl-A as a command, across chunks too", () => {
    expect(keys("ab\x01hcd")).toEqual(['send "ab"', "help", 'send "cd"']);
    expect(keys("a\x01", "s", "b")).toEqual(['send "a"', "stats", 'send "b"']);
    expect(keys("\x01x", "ignored")).toEqual(["quit", 'send "ignored"']);
  });

  it("sends Ctrl-A for Ctrl-A Ctrl-A and drops an unknown command, as QEMU", () => {
    expect(keys("\x01\x01\x01q!")).toEqual(['send "\\u0001"', 'send "!"']);
  });
});

/**
 * Runs `node ARGS` inside a pseudo-terminal, with `stty -g` taken before and after it in the same
 * terminal. Each step's `type` is typed once the output matches its `after`; a function gets the
 * process id instead (to signal it). The shell runs it as an asynchronous list with the terminal
 * as stdin, so its pid is known; without job control it stays in the terminal's foreground group.
 */
async function inTerminal(
  args: string[],
  steps: { after: RegExp; type: string | ((pid: number) => void) }[],
): Promise<{ output: string; status: number; before: string; afterState: string }> {
  const id = Math.random().toString(36).slice(2);
  const before = join(tmp, `before-${id}`);
  const after = join(tmp, `after-${id}`);
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const command =
    `stty -g > '${before}'; '${process.execPath}' ${quoted} < /dev/tty & echo "pid=$!"; ` +
    `wait $!; echo "status=$?"; stty -g > '${after}'`;
  const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, TERM: "dumb" },
  });
  let output = "";
  let step = 0;
  const onData = (d: Buffer) => {
    output += d.toString("latin1");
    while (step < steps.length && steps[step].after.test(output)) {
      const { type } = steps[step++];
      if (typeof type === "string") child.stdin.write(type);
      else type(Number(/pid=(\d+)/.exec(output)?.[1]));
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await new Promise((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  const status = Number(/status=(\d+)/.exec(output)?.[1] ?? -1);
  return { output, status, before: readFileSync(before, "utf8"), afterState: readFileSync(after, "utf8") };
}

describe("pagurus run in a terminal", () => {
  let bin = "";
  beforeAll(async () => {
    execFileSync("script", ["--version"]); // the tool must be there: a missing one fails here
    bin = await bundleBin(tmp);
  });

  it("sends typed keys to COM1, Ctrl-C included, and restores the terminal when the guest exits", async () => {
    // serial_rx echoes one line; in raw mode Ctrl-J is the newline it waits for.
    const r = await inTerminal(
      [bin, "run", join(guests, "serial_rx.elf")],
      [{ after: /ready/, type: "pi\x03ng\n" }],
    );
    expect(r.output).toContain("received: pi\x03ng");
    expect(r.status).toBe(1);
    expect(r.afterState).toBe(r.before);
  });

  it("lists the keys on Ctrl-A h, prints stats on Ctrl-A s, quits on Ctrl-A x and restores the terminal", async () => {
    const r = await inTerminal(
      [bin, "run", join(guests, "serial_rx.elf")],
      [
        { after: /ready/, type: "\x01h" },
        { after: /C-a x +exit pagurus/, type: "\x01s" },
        { after: /ended by +stopped/, type: "\x01x" },
      ],
    );
    expect(r.output).toMatch(/C-a h +print this help/);
    expect(r.output).toMatch(/instructions +\d+/);
    expect(r.status).toBe(0);
    expect(r.afterState).toBe(r.before);
  });

  it("restores the terminal after a triple fault", async () => {
    const r = await inTerminal([bin, "run", join(guests, "triple_fault.elf")], []);
    expect(r.output).toContain("pagurus: triple fault");
    expect(r.status).toBe(4);
    expect(r.afterState).toBe(r.before);
  });

  it("restores the terminal when a signal ends the run, with status 128 + N", async () => {
    const r = await inTerminal(
      [bin, "run", join(guests, "serial_rx.elf")],
      [{ after: /ready/, type: (pid) => process.kill(pid, "SIGTERM") }],
    );
    expect(r.output).toContain("pagurus: ended by SIGTERM");
    expect(r.status).toBe(128 + 15);
    expect(r.afterState).toBe(r.before);
  });
});
