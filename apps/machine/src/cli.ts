#!/usr/bin/env node
import { main } from "./main.js";

// The bin: real process I/O around main(). stdin feeds COM1 unless it is a terminal.
const stdin = process.stdin.isTTY ? undefined : process.stdin;
const status = await main(process.argv.slice(2), {
  stdout: (data) => process.stdout.write(data),
  stderr: (text) => process.stderr.write(text),
  stdin,
});
// An open pipe on stdin would keep the process alive after the guest is done.
stdin?.destroy();
process.exitCode = status;
