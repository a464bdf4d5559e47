#!/usr/bin/env bash
# run-qemu.sh <image> [qemu args...]: runs one test kernel on QEMU the way the comparison does.
img="$1"; shift
exec timeout 20 qemu-system-i386 -M isapc -cpu pentium2 -m 128 -display none -no-reboot \
  -kernel "$img" -serial stdio -monitor none -device isa-debug-exit,iobase=0xf4,iosize=4 "$@"
