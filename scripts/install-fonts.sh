#!/usr/bin/env bash
# Fonts for burned-in subtitles, into the project's font folder .fonts-cache/ (git-ignored):
#   DejaVu Sans          Latin, Cyrillic, Greek, Arabic, Hebrew   (Debian: fonts-dejavu-core)
#   WenQuanYi Micro Hei  Chinese, Japanese, Korean (Hangul)       (Debian: fonts-wqy-microhei, 5 MB)
# plus a fonts.conf that lists only that folder, so libass falls back between them through
# fontconfig without touching the system's configuration (docs/reference/platform-facts.md).
# Idempotent: when the fonts are there it only refreshes the links, in well under a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.fonts-cache"
DEJAVU_DIR=/usr/share/fonts/truetype/dejavu
WQY=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
FONTS=("$DEJAVU_DIR/DejaVuSans.ttf" "$DEJAVU_DIR/DejaVuSans-Bold.ttf" "$WQY")

missing=()
[ -f "$DEJAVU_DIR/DejaVuSans.ttf" ] && [ -f "$DEJAVU_DIR/DejaVuSans-Bold.ttf" ] || missing+=(fonts-dejavu-core)
[ -f "$WQY" ] || missing+=(fonts-wqy-microhei)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
        echo "install-fonts: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "install-fonts: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$DEST"
for font in "${FONTS[@]}"; do
    if [ ! -f "$font" ]; then
        echo "install-fonts: $font is still missing after installing ${missing[*]:-nothing}" >&2
        exit 1
    fi
    ln -sfn "$font" "$DEST/$(basename "$font")"
done

conf="$DEST/fonts.conf"
want="$(printf '%s\n' '<?xml version="1.0"?>' \
    '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">' \
    '<fontconfig>' \
    "  <dir>$DEST</dir>" \
    "  <cachedir>$DEST/cache</cachedir>" \
    '</fontconfig>')"
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    printf '%s\n' "$want" > "$conf"
fi
echo "install-fonts: subtitle fonts ready in $DEST"
