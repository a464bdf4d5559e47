#!/usr/bin/env bash
# Records every test kernel's serial output and exit status on QEMU into expected/, which the
# machine's comparison test uses (also where QEMU is not installed). Rebuilds the kernels first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/build.sh"
cd "$here/../.."
RECORD=1 npx -y pnpm@12 exec vitest run tooling/guests/test/qemu.test.ts
