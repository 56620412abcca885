#!/usr/bin/env bash
# Unpacks Debian packages into a folder, without installing them (no root
# needed unless the package lists must be refreshed):
#
#   scripts/deb-unpack.sh DEST PACKAGE [OPTIONAL_PACKAGE...]
#
# PACKAGE must download; each OPTIONAL_PACKAGE (a library the machine may
# lack) is unpacked beside it when it downloads. When the first download
# fails the package lists are refreshed once (with sudo unless root).
# DEST is replaced.
set -euo pipefail

dest=$1
package=$2
shift 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download "$package" >/dev/null 2>&1; then
    echo "apt-get download failed; refreshing the package lists once"
    $([[ $(id -u) -eq 0 ]] || echo sudo) apt-get update -qq
    apt-get download "$package"
fi
for optional in "$@"; do
    apt-get download "$optional" >/dev/null 2>&1 || true
done
rm -rf "$dest"
# dpkg -x creates only the last folder of its target.
mkdir -p "$dest"
for deb in ./*.deb; do
    dpkg -x "$deb" "$dest"
done
