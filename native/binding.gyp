# Every src/*.cc is compiled (a new file needs a reconfigure: touch this file). src/distributed.cc uses
# c10d's ProcessGroupGloo, whose header includes Gloo's (Debian: libgloo-dev); without them it builds
# entry points that throw "unavailable".
{
  "targets": [{
    "target_name": "contraseg_native",
    "sources": ["<!@(node -e \"console.log(require('fs').readdirSync('src').filter(f=>f.endsWith('.cc')).map(f=>'src/'+f).join(' '))\")"],
    "include_dirs": [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      "<!@(node find-libtorch.cjs include)"
    ],
    "libraries": [
      "-L<!(node find-libtorch.cjs libdir)",
      "-Wl,-rpath,<!(node find-libtorch.cjs libdir)",
      "-ltorch", "-ltorch_cpu", "-lc10"
    ],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-fopenmp", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
    "ldflags": ["-fopenmp"]
  }]
}
