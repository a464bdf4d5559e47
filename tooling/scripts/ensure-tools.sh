#!/usr/bin/env bash
# Installs the Debian tools that tests and builds use when they are missing:
# nasm (test kernels, the stub), qemu-system-x86 (reference runs), gcc-multilib (the host
# CPU harness), gdb (the gdbstub test). Needs root (CI and the developer machines run as root).
# It fails when it was asked to install something and could not. Without root it says what
# is missing and fails in strict mode (PAGURUS_STRICT=1 or CI=true, as .ci/run sets), where
# the tests that need a tool fail too (tooling/test-support/src/tools.ts).
set -u
strict=0
if [ "${PAGURUS_STRICT:-}" = 1 ] || [ "${CI:-}" = true ]; then strict=1; fi
need=()
command -v nasm >/dev/null 2>&1 || need+=(nasm)
command -v qemu-system-i386 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v gdb >/dev/null 2>&1 || need+=(gdb)
# script(1) gives the console test its pseudo-terminal.
command -v script >/dev/null 2>&1 || need+=(bsdutils)
[ -e /usr/lib/gcc/x86_64-linux-gnu/12/32/libgcc.a ] || [ -n "$(ls /usr/lib/gcc/x86_64-linux-gnu/*/32/crtbegin.o 2>/dev/null)" ] || need+=(gcc-multilib)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: missing ${need[*]} (install them with apt-get as root); tests that need them will say so" >&2
  exit "$strict"
fi
echo "ensure-tools: installing ${need[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/pagurus-apt.log 2>&1; then
  echo "ensure-tools: apt-get could not install ${need[*]}; see /tmp/pagurus-apt.log" >&2
  exit 1
fi
exit 0
