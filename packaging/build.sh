#!/usr/bin/env bash
# Build Lanterna's one-folder bundle with PyInstaller, then start it headless with --self-test
# against the toy model, and print its size.
#
#   packaging/build.sh            full: clean build, self-test twice (new index, then reopened),
#                                 desktop entry check, size per folder, size budget check
#   packaging/build.sh --quick    short form for CI: incremental build, one self-test, total size
#   packaging/build.sh --cuda     keep onnxruntime-gpu's CUDA provider (the NVIDIA GPU build,
#                                 dist/lanterna-cuda); NVIDIA's own libraries are never bundled
#
# Environment: PYTHON (default .venv/bin/python), LANTERNA_MAX_MB (size budget without NVIDIA's
# libraries and the CUDA provider, default 600: 350 MB of app and runtime, 196 MB of OCR with its
# models).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-$ROOT/.venv/bin/python}
MAX_MB=${LANTERNA_MAX_MB:-600}
QUICK=0
CUDA=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --cuda) CUDA=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

NAME=lanterna
[ "$CUDA" = 1 ] && NAME=lanterna-cuda
export LANTERNA_BUNDLE_NAME=$NAME LANTERNA_CUDA_PROVIDER=$CUDA

if ! "$PY" -m PyInstaller --version >/dev/null 2>&1; then
    echo "== installing PyInstaller (the project's 'package' extra)"
    "$PY" -m pip install --quiet "pyinstaller>=6"
fi

echo "== building dist/$NAME with PyInstaller $("$PY" -m PyInstaller --version)"
CLEAN=(--clean)
[ "$QUICK" = 1 ] && CLEAN=()
start=$SECONDS
"$PY" -m PyInstaller --noconfirm ${CLEAN[@]+"${CLEAN[@]}"} --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller-$NAME" \
    "$ROOT/packaging/lanterna.spec"
echo "   built in $((SECONDS - start)) s"

BUNDLE="$ROOT/dist/$NAME"
BIN="$BUNDLE/$NAME"
case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*) BIN="$BIN.exe" ;; esac  # Git Bash on Windows
[ -x "$BIN" ] || { echo "build.sh: $BIN was not built" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m onnx_models.toy "$TMP/toy" >/dev/null

# Headless: Qt's offscreen platform, no display, no user folders touched.
export QT_QPA_PLATFORM=offscreen XDG_DATA_HOME="$TMP/xdg-data" XDG_CONFIG_HOME="$TMP/xdg-config"
export XDG_CACHE_HOME="$TMP/xdg-cache"
echo "== self-test: $BIN --self-test --data-dir TMP --model TOY"
"$BIN" --self-test --data-dir "$TMP/data" --model "$TMP/toy"

if [ "$QUICK" = 0 ]; then
    echo "== self-test again on the same index (reopened)"
    "$BIN" --self-test --data-dir "$TMP/data" --model "$TMP/toy" | grep -E "^(index|self-test)"
    if [ "$(uname -s)" = Linux ]; then
        echo "== desktop entry from the bundle"
        "$BIN" --install-desktop-entry
        grep -q "^Exec=$BIN\$" "$XDG_DATA_HOME/applications/lanterna.desktop"
        if command -v desktop-file-validate >/dev/null; then
            desktop-file-validate "$XDG_DATA_HOME/applications/lanterna.desktop"
        fi
    fi
    echo "== largest parts of dist/$NAME (MiB)"
    du -sm "$BUNDLE/_internal"/* | sort -rn | head -12
    echo "== largest files (MiB)"
    find "$BUNDLE" -type f -size +5M -exec du -m {} + | sort -rn | head -12 \
        | sed "s|$BUNDLE/||"
fi

total_kb=$(du -sk "$BUNDLE" | cut -f1)
provider_kb=$(find "$BUNDLE" -name '*onnxruntime_providers_cuda*' -exec du -k {} + \
    | awk '{s += $1} END {print s + 0}')
mb() { echo $(($1 * 1024 / 1000000)); }  # kB (KiB) to MB
base_mb=$(mb $((total_kb - provider_kb)))
echo "== dist/$NAME: $(mb "$total_kb") MB ($((total_kb / 1024)) MiB);" \
    "CUDA provider $(mb "$provider_kb") MB; without it $base_mb MB (budget $MAX_MB MB)"
if [ "$base_mb" -gt "$MAX_MB" ]; then
    echo "build.sh: the bundle is over its size budget ($base_mb MB > $MAX_MB MB)" >&2
    exit 1
fi
