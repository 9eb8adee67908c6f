#!/usr/bin/env bash
# `npm run setup -- --dev` (scripts/setup.sh runs this last): the PyTorch reference that benchmarks and
# `npm run fixtures` compare against (Debian's python3-torch and python3-torchvision, and python3-onnx
# where Debian has it) and Chromium for the report's browser test; not needed to use contraseg. Installs as root, otherwise prints the command.
set -euo pipefail

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]; }
# Read into a variable first: under pipefail, `| grep -q` can fail by closing the pipe early (SIGPIPE).
debian_has() {
  local candidate
  candidate=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
  [ -n "$candidate" ] && [ "$candidate" != '(none)' ]
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-cache >/dev/null; then
  echo "contraseg setup: --dev installs Debian packages; elsewhere install PyTorch 1.13 and torchvision 0.14 for a python3 and set CONTRASEG_PYTHON to it" >&2
  exit 1
fi
as_root=0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then as_root=1; fi
# A fresh image has no package lists, and without them apt-cache cannot tell whether Debian has python3-onnx.
if [ "$as_root" -eq 1 ] && ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then apt-get update -qq; fi

# chromium: the headless browser that the report test (src/report/report-browser.test.ts) opens report.html in.
packages=(python3-torch python3-torchvision chromium)
if debian_has python3-onnx; then packages+=(python3-onnx); fi
missing=()
for package in "${packages[@]}"; do
  if ! installed "$package"; then missing+=("$package"); fi
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$as_root" -eq 0 ]; then
  echo "contraseg setup: the development tools need root; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "contraseg setup: installing ${missing[*]} (development tools)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
