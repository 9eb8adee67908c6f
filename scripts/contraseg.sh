#!/usr/bin/env bash
# `npm run contraseg -- ...`: the compiled CLI (dist/), rebuilt first when a source file is newer than
# the last build, so that a checkout or an edit never runs stale code.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
stamp="$repo/dist/.tsbuildinfo"
if [ ! -f "$stamp" ] || [ -n "$(find "$repo/src" -name '*.ts' ! -name '*.test.ts' -newer "$stamp" -print -quit)" ]; then
  echo "contraseg: sources changed since the last build; rebuilding dist/ (npm run build)" >&2
  (cd "$repo" && npx --no-install tsc -p tsconfig.build.json)
  touch "$stamp"
fi
exec node "$repo/dist/src/cli/main.js" "$@"
