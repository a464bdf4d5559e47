#!/usr/bin/env bash
# `pnpm pagurus ARGS`: the pagurus CLI of this clone, built first when a source changed (turbo's
# cache makes an up-to-date build a quick no-op). Build output is shown only when the build fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if ! log="$(cd "$root" && turbo run build --filter=pagurus... --output-logs=errors-only 2>&1)"; then
  printf '%s\n' "$log" >&2
  echo "pagurus: the build failed (see above)" >&2
  exit 70
fi
exec node "$root/apps/machine/dist/cli.js" "$@"
