#!/usr/bin/env node
// The pagurus command. The machine and the monitor are being built (issues 5 and 6); until
// they exist this says so plainly instead of pretending to boot anything.
const [command] = process.argv.slice(2);
if (command === "demo" || command === undefined) {
  process.stdout.write(
    "pagurus: the machine and the monitor are not built yet, so there is no guest to boot.\n" +
      "The packages that exist today have their tests: npx -y pnpm@12 test\n",
  );
  process.exit(0);
}
process.stderr.write(`pagurus: '${command}' is not available yet (the machine is not built)\n`);
process.exit(2);
