#!/usr/bin/env bash
# Builds debian:trixie-slim offline (no image registry): debootstrap minbase from the Debian archive,
# then `docker import`. Usage: docker/base-image.sh [tag] [mirror]
set -euo pipefail
tag=${1:-debian:trixie-slim}
mirror=${2:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase trixie "$root" "$mirror" >/dev/null
# what the slim image leaves out
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$tag" >/dev/null
echo "built $tag"
