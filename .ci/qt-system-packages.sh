#!/usr/bin/env bash
# Debian packages a headless napari/Qt 6 viewer needs (Xvfb, Mesa OpenGL, the xcb libraries), from
# ../shared/STACK.md. Installs only what is missing; needs root or sudo. Without them the napari viewer
# tests cannot start a display (pytest-xvfb finds no Xvfb) and fail.
set -euo pipefail
PKGS="xvfb xauth libgl1 libegl1 libgl1-mesa-dri libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0
libxcb-xinerama0 libxcb-xkb1 fonts-dejavu-core"
command -v dpkg-query >/dev/null || { echo "qt-system-packages: not a Debian system; install Xvfb and Qt's xcb libraries yourself" >&2; exit 0; }
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "qt-system-packages: missing$missing; run as root: apt-get install$missing" >&2; exit 1
fi
echo "qt-system-packages: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
