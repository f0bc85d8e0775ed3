#!/usr/bin/env bash
# Builds a portable llama-cpp-python wheel for the bundle: build/wheels/llama_cpp_python-*.whl
#
# PyPI's llama-cpp-python is source-only and compiles with -march=native, so a wheel built
# on the packaging machine may crash with SIGILL on a user's older CPU.  The bundle's wheel
# is built instead with
#   GGML_NATIVE=OFF          no -march=native
#   GGML_BACKEND_DL=ON       ggml's backends are shared libraries loaded at run time ...
#   GGML_CPU_ALL_VARIANTS=ON ... one CPU backend per x86-64 (or ARM) feature level, of which
#                            ggml loads the best one the running CPU supports
#   LLAVA_BUILD=OFF          no multimodal library (Inkwell does not use it)
# llama-cpp-python 0.3.36 does not support that layout by itself: its CMakeLists installs
# only a target called "ggml-cpu" (not ggml-cpu-haswell, ...), and it never calls
# ggml_backend_load_all().  This script patches the first in a copy of the sdist; the second
# is core.runtime.ensure_llama_backends().
#
# On macOS arm64 the variants are apple_m1/m2_m3/m4 and Metal is built in; on Windows (MSVC)
# a few x86 variants are skipped by llama.cpp itself.  Usage: packaging/build-llama.sh PYTHON
set -euo pipefail

VERSION=0.3.36
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$(realpath "${1:-$ROOT/build/venv/bin/python}")
WORK=$ROOT/build/llama-src
WHEELS=$ROOT/build/wheels
JOBS=${JOBS:-2}

if ls "$WHEELS"/llama_cpp_python-$VERSION-*.whl >/dev/null 2>&1; then
  echo "build-llama: $(ls "$WHEELS"/llama_cpp_python-$VERSION-*.whl) exists"
  exit 0
fi
mkdir -p "$WORK" "$WHEELS"
cd "$WORK"
if [ ! -d llama_cpp_python-$VERSION ]; then
  "$PY" -m pip download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d .
  tar xzf llama_cpp_python-$VERSION.tar.gz
fi
SRC=$WORK/llama_cpp_python-$VERSION

# Install every CPU variant next to libllama (the install helper skips variants that this
# architecture does not define).
if ! grep -q "inkwell: CPU variants" "$SRC/CMakeLists.txt"; then
  "$PY" - "$SRC/CMakeLists.txt" <<'EOF'
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
anchor = "    llama_cpp_python_install_target(ggml-cpu)\n"
assert anchor in text, "llama-cpp-python's CMakeLists.txt changed: update build-llama.sh"
variants = (
    "x64 sse42 sandybridge ivybridge piledriver haswell skylakex cannonlake cascadelake "
    "icelake cooperlake zen4 alderlake sapphirerapids "
    "armv8.0_1 armv8.2_1 armv8.2_2 armv8.2_3 armv8.6_1 armv8.6_2 armv9.2_1 armv9.2_2 "
    "apple_m1 apple_m2_m3 apple_m4"
)
patch = (
    anchor
    + "    # inkwell: CPU variants (GGML_CPU_ALL_VARIANTS with GGML_BACKEND_DL)\n"
    + f"    foreach(variant {variants})\n"
    + "        llama_cpp_python_install_target(ggml-cpu-${variant})\n"
    + "    endforeach()\n"
)
open(path, "w", encoding="utf-8").write(text.replace(anchor, patch))
EOF
fi

export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DLLAVA_BUILD=OFF ${EXTRA_CMAKE_ARGS:-}"
export CMAKE_BUILD_PARALLEL_LEVEL=$JOBS
echo "build-llama: CMAKE_ARGS=$CMAKE_ARGS, $JOBS jobs"
start=$(date +%s)
"$PY" -m pip wheel --no-deps -w "$WHEELS" "$SRC"
echo "build-llama: built in $(( $(date +%s) - start )) s"
