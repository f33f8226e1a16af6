#!/usr/bin/env bash
# Installs what the project needs on a fresh machine; safe to run again (it only adds what is
# missing). Both README commands call it first. Nothing is fetched from outside the package
# registries (crates.io, PyPI, Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 not found: $2" >&2; exit 1; }
}

need cargo "install the Rust toolchain (rustup) first"
cargo fmt --version >/dev/null 2>&1 || { echo "setup: rustfmt missing (rustup component add rustfmt)" >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { echo "setup: clippy missing (rustup component add clippy)" >&2; exit 1; }

# ONNX Runtime: the shared library inside the onnxruntime wheel on PyPI (it needs only glibc >=
# 2.28 and libstdc++). The engine loads it at run time from ORT_DYLIB_PATH or this default.
ORT_VERSION=1.31.1
ORT_DIR=.runtime/onnxruntime-$ORT_VERSION
ORT_LIB=$ORT_DIR/libonnxruntime.so.$ORT_VERSION
if [ ! -f "$ORT_LIB" ]; then
    need python3 "install Python 3 with pip"
    wheels=$(mktemp -d)
    trap 'rm -rf "$wheels"' EXIT
    echo "setup: fetching onnxruntime $ORT_VERSION from PyPI"
    python3 -m pip download --quiet --disable-pip-version-check "onnxruntime==$ORT_VERSION" \
        --no-deps --only-binary=:all: -d "$wheels"
    mkdir -p "$ORT_DIR"
    python3 - "$wheels" "$ORT_DIR" "$ORT_VERSION" <<'PY'
import glob, os, sys, zipfile
wheels, target, version = sys.argv[1:4]
(wheel,) = glob.glob(os.path.join(wheels, "onnxruntime-*.whl"))
name = f"libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as archive:
    member = next(m for m in archive.namelist() if m.endswith("/" + name))
    data = archive.read(member)
with open(os.path.join(target, name + ".part"), "wb") as out:
    out.write(data)
os.replace(os.path.join(target, name + ".part"), os.path.join(target, name))
PY
fi

# Debian packages: libclang-dev (lightgbm3-sys generates its bindings with bindgen) and
# fonts-dejavu-core (the charts of `toolkit train`).
missing=()
for package in libclang-dev fonts-dejavu-core; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q "${missing[@]}" >/dev/null \
        || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

# CMake >= 3.28 for LightGBM (Debian's 3.25 is too old), from PyPI; .cargo/config.toml points
# the build at it.
CMAKE_BIN=.runtime/cmake/cmake/data/bin/cmake
if [ ! -x "$CMAKE_BIN" ]; then
    echo "setup: fetching cmake from PyPI"
    rm -rf .runtime/cmake
    python3 -m pip install --quiet --disable-pip-version-check --target .runtime/cmake \
        "cmake>=3.28,<4"
fi

# pyarrow, with which the tests read the parquet archive back as a Python user would.
PYARROW_VERSION=22.0.0
if [ ! -f ".runtime/python/pyarrow-$PYARROW_VERSION.installed" ]; then
    echo "setup: fetching pyarrow $PYARROW_VERSION from PyPI"
    rm -rf .runtime/python
    python3 -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
        --target .runtime/python "pyarrow==$PYARROW_VERSION"
    touch ".runtime/python/pyarrow-$PYARROW_VERSION.installed"
fi

# ccxt, the standard Bybit client library the loopback venue is proven against (its own
# directory: its dependencies are pinned by ccxt itself).
CCXT_VERSION=4.5.90
if [ ! -f ".runtime/ccxt/ccxt-$CCXT_VERSION.installed" ]; then
    echo "setup: fetching ccxt $CCXT_VERSION from PyPI"
    rm -rf .runtime/ccxt
    python3 -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
        --target .runtime/ccxt "ccxt==$CCXT_VERSION"
    touch ".runtime/ccxt/ccxt-$CCXT_VERSION.installed"
fi

# Crates come from crates.io through Cargo.lock; fetch them once so the build steps that follow
# do not interleave downloads with compilation.
cargo fetch --locked --quiet
echo "setup: $(cargo --version), $(rustc --version | cut -d' ' -f1-2), onnxruntime $ORT_VERSION at $ORT_LIB, $($CMAKE_BIN --version | head -n 1)"
