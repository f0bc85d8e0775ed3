#!/usr/bin/env bash
# macOS: sign dist/Inkwell.app (if an identity is given), wrap it in a .dmg, notarize and
# staple (if credentials are given).  Usage: packaging/macos/sign-and-dmg.sh VERSION
#
#   INKWELL_CODESIGN_IDENTITY  "Developer ID Application: NAME (TEAMID)"; empty: ad-hoc
#                              signature only (runs on the build Mac; Gatekeeper blocks it
#                              elsewhere until the user allows it)
#   INKWELL_NOTARY_PROFILE     a `xcrun notarytool store-credentials` profile name; empty:
#                              no notarization
#
# PyInstaller already signs every binary it collects (with the identity, or ad-hoc) when the
# spec's codesign_identity is set; this script re-signs the whole .app with the hardened
# runtime and entitlements that notarization requires, inside out (nested code first).
# Written for and untested on macOS: no Mac was available where it was written (see README).
set -euo pipefail

VERSION=${1:?usage: sign-and-dmg.sh VERSION}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
APP=$ROOT/dist/Inkwell.app
DMG=$ROOT/dist/Inkwell-$VERSION-macos-$(uname -m).dmg
ENTITLEMENTS=$ROOT/packaging/macos/entitlements.plist
IDENTITY=${INKWELL_CODESIGN_IDENTITY:--}
[ -d "$APP" ] || { echo "sign-and-dmg: build $APP first"; exit 1; }

sign() {
  codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" \
    --sign "$IDENTITY" "$@"
}
if [ "$IDENTITY" = "-" ]; then
  sign() { codesign --force --sign - "$@"; }
fi
# Nested code first: every Mach-O in the bundle, then the executables, then the bundle.
find "$APP/Contents" -type f \( -name '*.so' -o -name '*.dylib' -o -perm -111 \) -print0 |
  while IFS= read -r -d '' f; do
    if file -b "$f" | grep -q 'Mach-O'; then sign "$f"; fi
  done
sign "$APP"
codesign --verify --deep --strict --verbose=2 "$APP"

rm -f "$DMG"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$APP" "$stage/"
ln -s /Applications "$stage/Applications"
hdiutil create -volname "Inkwell $VERSION" -srcfolder "$stage" -ov -format UDZO "$DMG"
if [ "$IDENTITY" != "-" ]; then sign "$DMG"; fi

if [ -n "${INKWELL_NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$INKWELL_NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
  spctl --assess --type open --context context:primary-signature --verbose "$DMG"
fi
ls -l "$DMG"
