#!/usr/bin/env bash
# Builds the test kernels: kernels/<name>.asm -> build/<name>.elf with NASM and GNU ld (binutils).
# A kernel whose source has the line "; format: aout" becomes build/<name>.bin, a flat image that
# boots through the Multiboot a.out-kludge address fields instead of ELF program headers;
# "; link: high" links it as a higher-half kernel (kernels/link-high.ld).
# The outputs are committed; rebuilding must give the same bytes (test/build.test.ts checks it),
# so nothing here may depend on time or absolute paths.
#   build.sh [name...]     build all kernels, or the named ones
#   OUT=dir build.sh       write the images somewhere else (the reproducibility check uses it)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/build}"
tmp="$out/tmp"
mkdir -p "$out" "$tmp"
cd "$here/kernels"
if [ $# -gt 0 ]; then names=("$@"); else names=(); for f in *.asm; do names+=("${f%.asm}"); done; fi
for name in "${names[@]}"; do
  script=link.ld
  grep -q '^; link: high' "$name.asm" && script=link-high.ld
  nasm -f elf32 -I ./ -o "$tmp/$name.o" "$name.asm"
  if grep -q '^; format: aout' "$name.asm"; then
    ld -m elf_i386 -T "$script" -n --build-id=none --no-warn-rwx-segments -o "$tmp/$name.elf" "$tmp/$name.o"
    objcopy -O binary "$tmp/$name.elf" "$out/$name.bin"
  else
    ld -m elf_i386 -T "$script" -n -s --build-id=none --no-warn-rwx-segments -o "$out/$name.elf" "$tmp/$name.o"
  fi
done
rm -rf "$tmp"
