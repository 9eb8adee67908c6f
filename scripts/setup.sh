#!/usr/bin/env bash
# Idempotent set-up: system libraries (Debian), npm packages, the native addon.
# Safe to run again; each step is skipped when already done.
# --dev: also the development tools, i.e. the PyTorch reference of benchmarks and fixtures (scripts/setup-dev-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "contraseg setup: unknown option '$arg' (known: --dev)" >&2; exit 2 ;;
  esac
done

need_apt=()
if [ -z "${LIBTORCH:-}" ] && ! [ -f /usr/include/ATen/ATen.h ] && ! python3 -c 'import torch, os, sys; sys.exit(0 if os.path.exists(os.path.join(os.path.dirname(torch.__file__), "include", "ATen", "ATen.h")) else 1)' 2>/dev/null; then
  need_apt+=(libtorch-dev)
fi
# OpenBLAS: Debian's default reference BLAS makes convolutions ~7x slower.
if command -v dpkg >/dev/null && ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then need_apt+=(libopenblas0-pthread); fi
# Gloo's headers (c10d's ProcessGroupGloo includes them) for distributed training; Debian's libtorch only.
# Optional: without them the addon builds and the distributed entry points say how to get them.
# Checked against the apt list too: on a fresh machine libtorch-dev is only about to be installed, and an addon built
# before Gloo's headers arrive has no distributed training until it is rebuilt.
debian_torch=0
if [ -f /usr/include/ATen/ATen.h ] || [[ " ${need_apt[*]} " == *" libtorch-dev "* ]]; then debian_torch=1; fi
if [ -z "${LIBTORCH:-}" ] && [ "$debian_torch" -eq 1 ] && ! [ -f /usr/include/gloo/context.h ]; then
  if [ "$(id -u)" -eq 0 ]; then need_apt+=(libgloo-dev); else echo "contraseg setup: for distributed training also install libgloo-dev (sudo apt-get install -y libgloo-dev)" >&2; fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "contraseg setup: please install ${need_apt[*]} (Debian: sudo apt-get install -y ${need_apt[*]}), or set LIBTORCH=/path/to/libtorch" >&2
    exit 1
  fi
  echo "contraseg setup: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # onnxruntime-node's CPU library is inside its npm package; its postinstall would only download GPU extras.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

bash scripts/build-native.sh

# The compiled package (dist/): the `contraseg` command and the ESM entry point.
npm run --silent build

# Last, so that without root the build is still done when the command for the tools is printed.
if [ "$dev" -eq 1 ]; then bash scripts/setup-dev-tools.sh; fi
