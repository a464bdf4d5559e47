#!/usr/bin/env node
import { main } from "./main.js";

// The bin: real process I/O around main(). stdin feeds COM1; on a terminal, as a raw console.
const stdin = process.stdin;
const stop = new AbortController();
// A reader that went away (EPIPE, `| head -c 1`) ends the run; Node would otherwise throw.
// Any other write error on stdout ends it the same way: nothing more can be shown there.
process.stdout.on("error", () => stop.abort("output-closed"));
process.stderr.on("error", () => {});
const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
for (const signal of signals) process.on(signal, () => stop.abort(signal));

const status = await main(process.argv.slice(2), {
  stdout: (data) => (stop.signal.aborted ? true : process.stdout.write(data)),
  stderr: (text) => {
    process.stderr.write(text);
  },
  stdin,
  terminal: stdin.isTTY ? stdin : undefined,
  drained: () =>
    new Promise<void>((resolve) => {
      const done = () => {
        process.stdout.off("drain", done);
        stop.signal.removeEventListener("abort", done);
        resolve();
      };
      process.stdout.once("drain", done);
      stop.signal.addEventListener("abort", done);
    }),
  signal: stop.signal,
});
// An open pipe or terminal on stdin would keep the process alive after the guest is done.
stdin.destroy();
// After a signal or a closed stdout, output still queued for a reader that does not read would
// keep the process alive: leave at once. Otherwise let Node write out what is queued.
if (stop.signal.aborted) process.exit(status);
process.exitCode = status;
