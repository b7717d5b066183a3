#!/usr/bin/env bash
# The Debian package as a user gets it: build it with CPack, check its control data and file
# list, unpack it into a scratch root, run both programs from there, and validate the desktop
# file, the AppStream metainfo and the man page with the standard tools.
# usage: package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD="$1"
SOURCE="$2"
APP_ID=org.repnas.Studio
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || fail "$1 is missing (Debian package $2; ./scripts/dev.sh deps installs it)"; }
need dpkg-deb dpkg
need desktop-file-validate desktop-file-utils
need appstreamcli appstream
need lexgrog man-db

echo "== cpack"
cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$TMP/out" >"$TMP/cpack.log" 2>&1 || { cat "$TMP/cpack.log"; fail "cpack"; }
DEB="$(ls "$TMP"/out/*.deb)"
echo "$DEB"

echo "== control"
dpkg-deb --info "$DEB" >"$TMP/info"
cat "$TMP/info"
grep -q "^ Package: repnas-studio$" "$TMP/info" || fail "package name"
DEPENDS="$(grep '^ Depends:' "$TMP/info")"
for dep in libtorch1.13 libqt6widgets6 libqcustomplot2.1-qt6 libonnx1 zlib1g; do
  grep -q "$dep" <<<"$DEPENDS" || fail "Depends lacks $dep: $DEPENDS"
done
grep -q "^ Recommends: dataset-fashion-mnist" "$TMP/info" || fail "Recommends"

echo "== files"
dpkg-deb --contents "$DEB" | awk '{print $6}' >"$TMP/files"
for f in ./usr/bin/repnas ./usr/bin/repnas-studio \
         ./usr/share/applications/$APP_ID.desktop ./usr/share/metainfo/$APP_ID.metainfo.xml \
         ./usr/share/icons/hicolor/scalable/apps/$APP_ID.svg \
         ./usr/share/icons/hicolor/48x48/apps/$APP_ID.png ./usr/share/icons/hicolor/256x256/apps/$APP_ID.png \
         ./usr/share/man/man1/repnas.1.gz ./usr/share/man/man1/repnas-studio.1.gz; do
  grep -qx "$f" "$TMP/files" || fail "$f is not in the package"
done
if grep -E '^\./usr/(include|lib/.*\.a$)|test_|bench' "$TMP/files"; then fail "development or test files packaged"; fi

echo "== unpack and run"
dpkg-deb -x "$DEB" "$TMP/root"
ROOT="$TMP/root"
"$ROOT/usr/bin/repnas" --version | tee "$TMP/v"
grep -q "^repnas [0-9]" "$TMP/v" || fail "repnas --version"
for cmd in search export evaluate verify-fusion; do
  "$ROOT/usr/bin/repnas" "$cmd" --help >"$TMP/h" || fail "repnas $cmd --help"
  grep -q "^usage: repnas $cmd" "$TMP/h" || fail "repnas $cmd --help has no usage line"
done
QT_QPA_PLATFORM=offscreen "$ROOT/usr/bin/repnas-studio" --version | tee "$TMP/sv"
grep -q "[0-9]\+\.[0-9]\+\.[0-9]\+" "$TMP/sv" || fail "repnas-studio --version"
# Nothing installed points back into the source or build tree.
if grep -rl -e "$SOURCE" -e "$BUILD" "$ROOT"; then fail "installed files refer to $SOURCE or $BUILD"; fi

echo "== validators"
desktop-file-validate "$ROOT/usr/share/applications/$APP_ID.desktop" | tee "$TMP/dv"
if grep -q "error:" "$TMP/dv"; then fail "desktop-file-validate"; fi
appstreamcli validate --no-net "$ROOT/usr/share/metainfo/$APP_ID.metainfo.xml" || fail "appstreamcli validate"
grep -q "<id>$APP_ID</id>" "$ROOT/usr/share/metainfo/$APP_ID.metainfo.xml" || fail "metainfo id"
grep -q "<launchable type=\"desktop-id\">$APP_ID.desktop</launchable>" "$ROOT/usr/share/metainfo/$APP_ID.metainfo.xml" || fail "launchable"
grep -qx "Icon=$APP_ID" "$ROOT/usr/share/applications/$APP_ID.desktop" || fail "desktop Icon"
grep -qx "Exec=repnas-studio %f" "$ROOT/usr/share/applications/$APP_ID.desktop" || fail "desktop Exec"
zcat "$ROOT/usr/share/man/man1/repnas.1.gz" >"$TMP/repnas.1"
lexgrog "$TMP/repnas.1" | tee "$TMP/lg"
grep -q '"repnas - ' "$TMP/lg" || fail "man page NAME section"
for cmd in search export evaluate verify-fusion; do
  grep -q "^\.SS $(sed 's/-/\\\\-/g' <<<"$cmd")$" "$TMP/repnas.1" || fail "man page lacks $cmd"
done
zcat "$ROOT/usr/share/man/man1/repnas-studio.1.gz" >"$TMP/repnas-studio.1"
lexgrog "$TMP/repnas-studio.1" | grep -q '"repnas-studio - ' || fail "repnas-studio(1) NAME section"
for page in repnas repnas-studio; do
  MANWIDTH=80 man --warnings -l "$TMP/$page.1" 2>"$TMP/manwarn" >/dev/null
  if [ -s "$TMP/manwarn" ]; then cat "$TMP/manwarn"; fail "$page(1) has warnings"; fi
done
echo "PASS"
