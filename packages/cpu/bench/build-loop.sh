#!/usr/bin/env bash
# Assembles the bench:cpu loop kernel with NASM alone (loop.asm writes its own ELF headers):
#   build-loop.sh            rebuild packages/cpu/bench/loop.elf (committed)
#   build-loop.sh OUT        write it to OUT instead (the reproducibility check uses this)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
nasm -f bin -o "${1:-$here/loop.elf}" "$here/loop.asm"
