#!/usr/bin/env bash
# Builds native/ incrementally (configures on first use). A lock serialises concurrent builds.
#
# --sanitize (or CONTRASEG_SANITIZE=1): builds an AddressSanitizer + UndefinedBehaviorSanitizer addon into
# native/build/Sanitize/contraseg_native.node instead, never touching native/build/Release (which every
# other process loads). Load it with CONTRASEG_NATIVE=native/build/Sanitize/contraseg_native.node and
# LD_PRELOAD="$(gcc -print-file-name=libasan.so)" (node itself is not instrumented, so the ASan runtime
# has to come first); see native/README.md, "Sanitizers".
set -euo pipefail
cd "$(dirname "$0")/../native"

sanitize=${CONTRASEG_SANITIZE:-0}
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    *) echo "build-native.sh: unknown argument '$arg' (expected --sanitize or nothing)" >&2; exit 2 ;;
  esac
done

build_sanitized() {
  # Compiled directly with the flags node-gyp uses for Release (see build/contraseg_native.target.mk), plus
  # the sanitizers at -O1 with frame pointers for readable stacks. Own lock: it does not block normal builds.
  local out=build/Sanitize
  mkdir -p "$out/obj"
  exec 8>"$out/.build.lock"
  flock 8
  local cxx=${CXX:-g++}
  local napi_inc node_inc torch_inc torch_lib
  napi_inc=$(node -p "require('node-addon-api').include_dir")
  node_inc=$(node -p "require('path').join(process.execPath, '../../include/node')")
  torch_inc=$(node find-libtorch.cjs include)
  torch_lib=$(node find-libtorch.cjs libdir)
  local flags=(-std=c++17 -fPIC -pthread -fexceptions -frtti -fopenmp -O1 -g -fno-omit-frame-pointer
    -fsanitize=address,undefined -fno-sanitize=vptr -Wno-unused-parameter -Wno-deprecated-declarations
    -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_GYP_MODULE_NAME=contraseg_native -D_GLIBCXX_USE_CXX11_ABI=1
    -I"$node_inc" -I"$napi_inc")
  for dir in $torch_inc; do flags+=(-I"$dir"); done
  # vptr is off: libtorch's classes cross shared-library boundaries, where UBSan's type check misfires.
  local sources=() objects=()
  for src in src/*.cc; do
    local obj="$out/obj/$(basename "${src%.cc}").o"
    objects+=("$obj")
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ src/common.h -nt "$obj" ] || [ src/contrastive.h -nt "$obj" ]; then
      sources+=("$src")
    fi
  done
  if [ ${#sources[@]} -gt 0 ]; then
    printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -I{} sh -c \
      'obj="$0/obj/$(basename "{}" .cc).o"; echo "  CXX(sanitize) {}"; exec "$@" -c "{}" -o "$obj"' "$out" "$cxx" "${flags[@]}"
  fi
  "$cxx" -shared -fsanitize=address,undefined -fopenmp -pthread -o "$out/contraseg_native.node" "${objects[@]}" \
    -L"$torch_lib" -Wl,-rpath,"$torch_lib" -ltorch -ltorch_cpu -lc10
  echo "built $(pwd)/$out/contraseg_native.node"
}

if [ "$sanitize" = 1 ]; then
  build_sanitized
  exit 0
fi

exec 9>.build.lock
flock 9
if [ ! -f build/Makefile ] || [ binding.gyp -nt build/Makefile ]; then
  npx --no-install node-gyp configure
fi
# src/distributed.cc compiles c10d's Gloo backend only where Gloo's headers are found (__has_include), and make's
# dependency files cannot know that a header appeared or vanished: when that changes, compile it again.
gloo=no
for dir in $(node find-libtorch.cjs include); do if [ -f "$dir/gloo/context.h" ]; then gloo=yes; fi; done
if [ -f build/Makefile ] && [ "$(cat build/gloo-headers 2>/dev/null)" != "$gloo" ]; then
  rm -f build/Release/obj.target/contraseg_native/src/distributed.o
fi
npx --no-install node-gyp build -j "$(nproc)"
echo "$gloo" > build/gloo-headers
