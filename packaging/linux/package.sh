#!/usr/bin/env bash
# Wraps the PyInstaller folder dist/inkwell into dist/inkwell-VERSION-linux-ARCH.tar.gz and
# dist/inkwell_VERSION_ARCH.deb (installs to /opt/inkwell, with inkwell and inkwell-desktop
# on the PATH, a menu entry and an icon).  Usage: packaging/linux/package.sh VERSION
set -euo pipefail

VERSION=${1:?usage: package.sh VERSION}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/packaging/linux
DIST=$ROOT/dist
APP=$DIST/inkwell
[ -x "$APP/inkwell-desktop" ] || { echo "package.sh: build $APP first (make package)"; exit 1; }
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
MACHINE=$(uname -m)

# -- .tar.gz: the folder as it is; run inkwell-desktop from wherever it is unpacked.
TARBALL=$DIST/inkwell-$VERSION-linux-$MACHINE.tar.gz
rm -f "$TARBALL"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/inkwell-$VERSION"
cp -a "$APP"/. "$stage/inkwell-$VERSION/"
cp "$HERE/inkwell.desktop" "$HERE/inkwell.svg" "$stage/inkwell-$VERSION/"
tar -C "$stage" -czf "$TARBALL" "inkwell-$VERSION"
rm -rf "$stage/inkwell-$VERSION"

# -- .deb
FLOOR=$("$HERE/glibc-floor.sh" "$APP" | sed -n 's/^glibc floor: //p')
PKG=$stage/deb
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
  "$PKG/usr/share/icons/hicolor/scalable/apps" "$PKG/usr/share/icons/hicolor/256x256/apps" \
  "$PKG/usr/share/icons/hicolor/512x512/apps" "$PKG/usr/share/doc/inkwell"
cp -a "$APP" "$PKG/opt/inkwell"
ln -s ../../opt/inkwell/inkwell "$PKG/usr/bin/inkwell"
ln -s ../../opt/inkwell/inkwell-desktop "$PKG/usr/bin/inkwell-desktop"
cp "$HERE/inkwell.desktop" "$PKG/usr/share/applications/inkwell.desktop"
cp "$HERE/inkwell.svg" "$PKG/usr/share/icons/hicolor/scalable/apps/inkwell.svg"
cp "$HERE/inkwell-256.png" "$PKG/usr/share/icons/hicolor/256x256/apps/inkwell.png"
cp "$HERE/inkwell.png" "$PKG/usr/share/icons/hicolor/512x512/apps/inkwell.png"
cat > "$PKG/usr/share/doc/inkwell/copyright" <<COPY
Inkwell $VERSION, Apache-2.0.  Bundled: Python, Qt (LGPLv3, PySide6), llama.cpp (MIT),
Chroma (Apache-2.0), PyTorch (BSD), SmolLM2-135M-Instruct (Apache-2.0), Gemma 3 270M
(Gemma Terms of Use), all-MiniLM-L6-v2 (Apache-2.0), DejaVu fonts (see
/opt/inkwell/_internal/desktop/assets/LICENSE-DejaVu.txt).  The licence files of the
bundled Python packages are in /opt/inkwell/_internal/*.dist-info where they ship them.
COPY
SIZE_KB=$(du -sk "$PKG" | cut -f1)
# Qt's xcb platform plugin needs these X libraries from the system (PySide6's wheel brings Qt
# itself); the rest of the bundle needs only glibc.
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: inkwell
Version: $VERSION
Architecture: $ARCH
Maintainer: Inkwell developers <inkwell@localhost>
Installed-Size: $SIZE_KB
Depends: libc6 (>= $FLOOR), libgl1, libegl1, libfontconfig1, libfreetype6, libdbus-1-3, libxkbcommon0, libxkbcommon-x11-0, libx11-6, libx11-xcb1, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, libxcb-shape0, libxcb-xfixes0, libxcb-xkb1
Section: editors
Priority: optional
Homepage: https://example.invalid/inkwell
Description: privacy-first writing assistant that learns your voice locally
 Inkwell personalizes a small local language model to your own writing, with
 retrieval (RAG) over your documents and LoRA adapters trained on your machine.
 Nothing leaves the computer: no telemetry, no model hub, no network use.
CONTROL
cat > "$PKG/DEBIAN/postinst" <<'POST'
#!/bin/sh
set -e
if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q || true; fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
fi
POST
chmod 0755 "$PKG/DEBIAN/postinst"
DEB=$DIST/inkwell_${VERSION}_$ARCH.deb
rm -f "$DEB"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$PKG" "$DEB" >/dev/null
echo "package.sh: glibc floor $FLOOR"
ls -l "$TARBALL" "$DEB"
