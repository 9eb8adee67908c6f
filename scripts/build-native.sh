#!/usr/bin/env bash
# Builds native/ incrementally (configures on first use). A lock serialises concurrent builds.
set -euo pipefail
cd "$(dirname "$0")/../native"
exec 9>.build.lock
flock 9
if [ ! -f build/Makefile ] || [ binding.gyp -nt build/Makefile ]; then
  npx --no-install node-gyp configure
fi
npx --no-install node-gyp build -j "$(nproc)"
