#!/usr/bin/env bash
# Runs every *.test.ts under src/ with Node's test runner (tsx compiles TypeScript on the fly).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find src -name '*.test.ts' | sort)
if [ $# -gt 0 ]; then files=("$@"); fi
exec node --import tsx --test --test-concurrency=1 "${files[@]}"
