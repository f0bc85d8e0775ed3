#!/usr/bin/env bash
# Installs the system packages Inkwell's set-up needs, and only those that are missing.
# Usage: packaging/system-deps.sh [PYTHON_VERSION]   (e.g. 3.13: the Python the venv will use;
# without one, the system's python3 is installed too)
#
# Debian/Ubuntu: the compiler toolchain for llama-cpp-python's source build
# (build-essential, cmake), venv and headers for that Python, git, the libraries Qt needs
# (offscreen and on a real X display), strace and util-linux (unshare) for the
# privacy proofs in the test suite.
# macOS: needs Python 3.11, 3.12 or 3.13 and the Xcode command line tools (the compiler); cmake
# comes from PyPI during the build.  Nothing else is installed system-wide.
set -euo pipefail
PYTHON_VERSION=${1:-}

case "$(uname -s)" in
  Darwin)
    if ! xcode-select -p >/dev/null 2>&1; then
      echo "system-deps: installing the Xcode command line tools (a dialog will open)"
      xcode-select --install || true
    fi
    exit 0 ;;
  Linux) ;;
  *) echo "system-deps: unsupported OS $(uname -s); install a C++ compiler and cmake yourself"; exit 0 ;;
esac

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not a Debian/Ubuntu system; make sure a C/C++ compiler, cmake, Python 3.11-3.13"
  echo "             with venv, and Qt's X11/EGL libraries are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# A freshly installed system may have no package lists yet: the name checks below need them.
if ! apt-cache show build-essential >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi

if [ -z "$PYTHON_VERSION" ]; then
  PYTHON_PACKAGES=(python3 python3-venv python3-dev)
elif apt-cache show "python$PYTHON_VERSION-venv" >/dev/null 2>&1; then
  PYTHON_PACKAGES=("python$PYTHON_VERSION-venv" "python$PYTHON_VERSION-dev")
else
  PYTHON_PACKAGES=()  # a Python the system's packages do not know (pyenv, a source build)
fi
PACKAGES=(
  build-essential cmake git pkg-config "${PYTHON_PACKAGES[@]}"
  libglib2.0-0 libegl1 libgl1 libx11-6 libxkbcommon0 libfontconfig1 libfreetype6 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0
  strace util-linux
)
# Debian 12 names libglib2.0-0 so; Debian 13/Ubuntu 24.04 renamed it libglib2.0-0t64.
if apt-cache show libglib2.0-0t64 >/dev/null 2>&1; then
  PACKAGES=("${PACKAGES[@]/libglib2.0-0/libglib2.0-0t64}")
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: all system packages present"
  exit 0
fi

echo "system-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
