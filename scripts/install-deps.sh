#!/bin/sh
# Installs the Debian 12 packages seqdream needs to build, test and run,
# skipping what is already there. Safe to run repeatedly.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --torch  also python3-torch (benchmarks and the
#                                    PyTorch reference scripts)
#   scripts/install-deps.sh --onnxruntime
#                                    also nodejs and npm (when node or npm
#                                    is missing) and the npm package
#                                    onnxruntime-node in tests/onnxruntime/
#                                    (tests/test-onnxruntime.sh; ONNX Runtime
#                                    runs what `seqdream export` writes)
# The flags combine; the default stays lean.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)

packages="meson ninja-build pkg-config gcc clang-format python3
libglib2.0-dev libopenblas-dev libjson-glib-dev libsndfile1-dev
libcairo2-dev libfftw3-dev
protobuf-c-compiler libprotobuf-c-dev libonnx-dev
libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
gstreamer1.0-plugins-base gstreamer1.0-plugins-good
python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0
clang libclang-rt-14-dev llvm
valgrind
libmosquitto-dev mosquitto mosquitto-clients"
# clang, libclang-rt-14-dev (libclang_rt.fuzzer, the libFuzzer runtime) and
# llvm (llvm-symbolizer, for the sanitizers' stack traces): scripts/fuzz.
# valgrind: scripts/valgrind-gst.
# protobuf-c-compiler, libprotobuf-c-dev, libonnx-dev (its onnx.proto):
# the ONNX reader, generated at build time (core/meson.build).
# libmosquitto-dev: the mosquittosink element and `seqdream monitor`;
# mosquitto, mosquitto-clients: the broker and mosquitto_sub/_passwd of
# their tests and of examples/fleet.

onnxruntime=0
for arg in "$@"; do
  case $arg in
    --torch) packages="$packages python3-torch" ;;
    --onnxruntime)
      onnxruntime=1
      # a node from elsewhere (NodeSource) ships its own npm: Debian's npm
      # would conflict with it
      command -v node >/dev/null 2>&1 || packages="$packages nodejs"
      command -v npm >/dev/null 2>&1 || packages="$packages npm" ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# ONNXRUNTIME_NODE_INSTALL=skip: the package carries the CPU binding for
# Linux x64 and arm64; its install script would only fetch CUDA libraries.
install_onnxruntime () {
  [ "$onnxruntime" = 1 ] || return 0
  if ! (cd "$ROOT/tests/onnxruntime" && NODE_PATH=node_modules node -e "require('onnxruntime-node')") 2>/dev/null; then
    # not fatal: without the npm registry the build and every other test
    # still work, and tests/test-onnxruntime.sh reports itself skipped
    (cd "$ROOT/tests/onnxruntime" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund) \
      || echo "install-deps.sh: npm could not install onnxruntime-node into tests/onnxruntime: the onnxruntime test will be skipped" >&2
  fi
}

missing=""
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  install_onnxruntime
  exit 0
fi

echo "seqdream: installing missing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once per day at most: a fresh machine has none.
stamp=/var/lib/apt/periodic/update-success-stamp
if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock | grep -v partial)" ] \
   || [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mtime +0 2>/dev/null)" ]; then
  $SUDO apt-get update -q || true
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
install_onnxruntime
