#!/usr/bin/env bash
# Make Lanterna-VERSION-ARCH.AppImage from the one-folder bundle (dist/lanterna).
#
#   packaging/linux/appimage.sh [BUNDLE]      BUNDLE defaults to dist/lanterna
#
# Lays out build/AppDir (AppRun, lanterna.desktop, icons, the bundle in usr/lib/lanterna) and,
# when `appimagetool` is on PATH (or $APPIMAGETOOL names it), packs it. Without appimagetool the
# AppDir is left ready and the steps to finish are printed: this script never downloads tools.
#
# The bundle runs on distributions whose glibc is at least the build machine's: build on the
# oldest distribution you support (for example in a manylinux_2_28 or Ubuntu 22.04 container).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE=${1:-$ROOT/dist/lanterna}
BIN_NAME=$(basename "$BUNDLE")
APPDIR=$ROOT/build/AppDir
ARCH=${ARCH:-$(uname -m)}
PY=${PYTHON:-$ROOT/.venv/bin/python}
VERSION=$(cd "$ROOT" && "$PY" -c 'import engine; print(engine.__version__)')
FLAVOUR=${BIN_NAME#lanterna}  # "" for dist/lanterna, "-cuda" for dist/lanterna-cuda
OUT=$ROOT/dist/Lanterna-$VERSION$FLAVOUR-$ARCH.AppImage

[ -x "$BUNDLE/$BIN_NAME" ] || {
    echo "appimage.sh: no bundle at $BUNDLE; build it first with packaging/build.sh" >&2
    exit 1
}

echo "== laying out $APPDIR"
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/bin" "$APPDIR/usr/share/applications"
cp -a "$BUNDLE" "$APPDIR/usr/lib/lanterna"
if [ "$BIN_NAME" != lanterna ]; then
    mv "$APPDIR/usr/lib/lanterna/$BIN_NAME" "$APPDIR/usr/lib/lanterna/lanterna"
fi
ln -s ../lib/lanterna/lanterna "$APPDIR/usr/bin/lanterna"

cat > "$APPDIR/AppRun" <<'RUN'
#!/bin/sh
# The AppImage's entry: start the bundle. $APPIMAGE (set by the runtime) is what
# `lanterna --install-desktop-entry` writes into the menu entry.
HERE=$(dirname "$(readlink -f "$0")")
exec "$HERE/usr/lib/lanterna/lanterna" "$@"
RUN
chmod +x "$APPDIR/AppRun"

cp "$ROOT/packaging/linux/lanterna.desktop" "$APPDIR/lanterna.desktop"
cp "$ROOT/packaging/linux/lanterna.desktop" "$APPDIR/usr/share/applications/lanterna.desktop"
for side in 16 32 48 64 128 256 512; do
    dir=$APPDIR/usr/share/icons/hicolor/${side}x${side}/apps
    mkdir -p "$dir"
    cp "$ROOT/resources/lanterna-$side.png" "$dir/lanterna.png"
done
mkdir -p "$APPDIR/usr/share/icons/hicolor/scalable/apps"
cp "$ROOT/resources/lanterna.svg" "$APPDIR/usr/share/icons/hicolor/scalable/apps/lanterna.svg"
cp "$ROOT/resources/lanterna-256.png" "$APPDIR/lanterna.png"
ln -s lanterna.png "$APPDIR/.DirIcon"

TOOL=${APPIMAGETOOL:-$(command -v appimagetool || true)}
if [ -z "$TOOL" ]; then
    cat <<MSG
== appimagetool not found: $APPDIR is ready but not packed. To finish:
   1. get appimagetool for $ARCH from the AppImage project's releases
      (github.com/AppImage/appimagetool), check its checksum, and make it executable;
   2. ARCH=$ARCH appimagetool "$APPDIR" "$OUT"
      (or APPIMAGETOOL=/path/to/appimagetool packaging/linux/appimage.sh)
   Try the AppDir as it is with: $APPDIR/AppRun --self-test --model MODEL_DIR
MSG
    exit 0
fi
echo "== packing $OUT with $TOOL"
ARCH=$ARCH "$TOOL" --no-appstream "$APPDIR" "$OUT"
du -h "$OUT"
