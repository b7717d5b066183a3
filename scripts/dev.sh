#!/usr/bin/env bash
# RepNAS Studio developer entry point. On a fresh Debian 12 machine (as root, or with sudo):
#   ./scripts/dev.sh run    install what is missing, build, open RepNAS Studio (the default search on
#                           Fashion-MNIST ready to start; --headless or no display: run it in the terminal)
#   ./scripts/dev.sh test   install what is missing, build, run every test through CTest: the suite,
#                           the engine and CLI tests again under ASan + UBSan, the fuzzers' smoke runs
#   ./scripts/dev.sh deps   only install the Debian packages
#   ./scripts/dev.sh build  only configure and build
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Build tools, libraries, the default data set, and the independent checkers used by tests.
PACKAGES=(
  g++ cmake ninja-build ccache pkg-config clang-14 libfuzzer-14-dev util-linux
  qt6-base-dev libqt6svg6 libqcustomplot-dev libtorch-dev libgloo-dev libonnx-dev nlohmann-json3-dev zlib1g-dev
  coinor-libcbc-dev
  libopenblas0-pthread
  dataset-fashion-mnist
  python3-torch python3-onnx python3-opencv
  xvfb xauth
  desktop-file-utils appstream man-db dpkg-dev file
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "dev.sh: need root (or sudo) to run: $*" >&2; exit 1
  fi
}

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "dev.sh: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

build() {
  cmake --preset default
  cmake --build --preset default
}

case "${1:-}" in
  deps) deps ;;
  build) deps; build ;;
  run)
    deps; build
    shift
    # The main job: RepNAS Studio with the default search on Fashion-MNIST ready to start.
    # Without a display (or with --headless) the same default search runs in the terminal
    # (extra arguments go to repnas search).
    if [ "${1:-}" = "--headless" ] || { [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; }; then
      [ "${1:-}" = "--headless" ] && shift
      echo "dev.sh: running the default search headless (repnas search)"
      exec ./build/app/repnas search --out "runs/$(date +%Y%m%d-%H%M%S)" "$@"
    fi
    exec ./build/app/repnas-studio
    ;;
  test)
    deps
    # Each stage's wall time is printed (bench/README.md "build" records them).
    timed() { local t0=$SECONDS; "$@"; echo "dev.sh: $* took $((SECONDS - t0)) s"; }
    timed build
    timed ctest --preset default
    # The engine, data, export and CLI tests again under AddressSanitizer + UndefinedBehavior-
    # Sanitizer (GCC; the GUI tests are not in this build).
    cmake --preset asan
    timed cmake --build --preset asan
    timed ctest --preset asan
    # The fuzz targets (clang, libFuzzer): a 30-second smoke run of each on the seed corpus.
    CC=clang-14 CXX=clang++-14 cmake -S fuzz -B build-fuzz -G Ninja
    timed cmake --build build-fuzz
    timed ctest --test-dir build-fuzz --output-on-failure -j2
    ;;
  *)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
