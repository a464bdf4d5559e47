#!/usr/bin/env node
import { main } from "./main.js";

// The bin: real process I/O around main(). Serial bytes go to stdout unbuffered by line.
const status = await main(process.argv.slice(2), {
  stdout: (data) => process.stdout.write(data),
  stderr: (text) => process.stderr.write(text),
  stdin: process.stdin.isTTY ? undefined : process.stdin,
});
process.exitCode = status;
