#!/usr/bin/env bash
# Builds the host CPU harness (needs gcc with -m32 support: Debian gcc-multilib).
# Output: tooling/cpu-harness/build/harness (git-ignored; the differential test runs this if
# the binary is missing or older than harness.c).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/build"
# A private temporary name, then an atomic rename: test workers may build at the same time.
tmp="$here/build/harness.tmp.$$"
gcc -m32 -O2 -no-pie -fno-pie -Wall -Wextra -o "$tmp" "$here/harness.c"
mv -f "$tmp" "$here/build/harness"
