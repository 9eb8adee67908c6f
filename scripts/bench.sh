#!/usr/bin/env bash
# npm run bench -- <name>: runs bench/<name>.ts. Benchmarks compare against PyTorch in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-}"
if [ -z "$name" ] || [ ! -f "bench/$name.ts" ]; then
  echo "usage: npm run bench -- <name>; available:" >&2
  ls bench/*.ts 2>/dev/null | sed 's|bench/||; s|\.ts$||' | grep -v '^_' | sed 's/^/  /' >&2
  exit 2
fi
shift
exec node --import tsx "bench/$name.ts" "$@"
