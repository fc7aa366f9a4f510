#!/usr/bin/env bash
# Lay out the Open Clip Art Library 0.18 (Debian packages openclipart-png and
# openclipart-svg) as a raw folder for curation:
#
#   DEST/<category>/…/NAME.png           the works: Debian's PNG renders, links kept as links
#   DEST/_sources/<category>/…/NAME.svg  the SVG each render was made from
#
# Curation joins a work to its SVG by relative path: the work at REL is
# described by the RDF metadata of `_sources/REL` with `.svg` for its extension
# (docs/rights-policy.md). Files under `_sources/` are not works.
#
# Usage: scripts/fetch_openclipart.sh [DEST]   (default data/01_raw/openclipart)
# Uses /usr/share/openclipart when the packages are installed; otherwise, as
# root, installs them with apt-get; otherwise downloads the .deb files with
# `apt-get download` and extracts them with dpkg-deb (no root needed).
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${1:-data/01_raw/openclipart}
packages=(openclipart-png openclipart-svg)

if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
    echo "$dest already holds files: left as it is (remove it to fetch again)"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

src=/usr/share/openclipart
if [ ! -d "$src/png" ] || [ ! -d "$src/svg" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null \
            || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null; }
    else
        (cd "$work" && apt-get download "${packages[@]}")
        for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
        src="$work/root/usr/share/openclipart"
    fi
fi

mkdir -p "$(dirname "$dest")"
stage=$(mktemp -d "$(dirname "$dest")/.openclipart-XXXXXX")
cp -a "$src/png/." "$stage/"
mkdir "$stage/_sources"
cp -a "$src/svg/." "$stage/_sources/"
rm -rf "$dest"
mv "$stage" "$dest"
echo "$(find "$dest" -name '*.png' -not -path "$dest/_sources/*" | wc -l) PNG paths in $dest"
