#!/usr/bin/env bash
# Builds the OPC UA connector image localhost/outpost-opcua-connector:<package version>
# without any registry: a root filesystem holding this machine's node binary and
# the shared libraries it links, and the `outpost` CLI bundled by esbuild into one
# file at /usr/local/bin/outpost (only `opcua-connector` and `plc-sim` in it),
# imported with `podman import`. In the image, `outpost opcua-connector --config
# FILE` runs the connector.
#
#   scripts/build-connector-image.sh              # into root's (rootful) image store
#   scripts/build-connector-image.sh --user NAME  # into NAME's rootless image store too
#   scripts/build-connector-image.sh --force      # rebuild even when up to date
#
# Idempotent and quick when the image is up to date: the image carries a label
# with a hash of the sources (src/, package-lock.json, this script and the
# bundler), so a change of the code rebuilds it even when the version did not
# change. Podman runs with a containers.conf that selects runc and low ulimits
# (see ../shared/notes/podman.md); a caller's CONTAINERS_CONF wins for the
# rootful store.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=$(node -p 'require("./package.json").version')
IMAGE="localhost/outpost-opcua-connector:$version"
user=""
force=""
while [ $# -gt 0 ]; do
  case "$1" in
    --user) user="${2:?--user needs a user name}"; shift 2 ;;
    --force) force=1; shift ;;
    --print-image) echo "$IMAGE"; exit 0 ;;
    *) echo "usage: $0 [--user NAME] [--force] [--print-image]" >&2; exit 2 ;;
  esac
done
command -v podman >/dev/null || { echo "build-connector-image: podman is not installed (run scripts/setup-system.sh)" >&2; exit 1; }

# What the image is built from; the label that records it says whether a rebuild is due.
source_hash=$( (find src -name '*.ts' ! -name '*.test.ts' -print0 | sort -z | xargs -0 cat
  cat package-lock.json scripts/build-connector-image.sh scripts/podman-image.sh scripts/bundle-connector.mjs
  readlink -f "$(command -v node)") | sha256sum | cut -c1-16)
LABEL=outpost.dev/source-hash

# shellcheck source=scripts/podman-image.sh
source "$root/scripts/podman-image.sh"

import_changes=(--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENV NODE_ENV=production'
  --change 'WORKDIR /tmp' --change "LABEL $LABEL=$source_hash" --change 'CMD ["outpost", "--help"]')

rootfs() { # builds the root filesystem once, into $work/rootfs
  [ -d "$work/rootfs" ] && return 0
  local fs="$work/rootfs" node lib
  mkdir -p "$fs"/{usr/bin,usr/local/bin,etc,tmp,proc,sys,dev,root}
  chmod 1777 "$fs/tmp"
  node=$(readlink -f "$(command -v node)")
  cp "$node" "$fs/usr/bin/node"
  # The dynamic loader and every library node links, at the paths ldd names.
  for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
    mkdir -p "$fs$(dirname "$lib")"
    cp -L "$lib" "$fs$lib"
  done
  # The CLI, one ES module run by node through its #! line; `../package.json` (the
  # version, and "type": "module" for an extensionless file) sits at /usr/local.
  node scripts/bundle-connector.mjs "$work/outpost.mjs"
  { echo '#!/usr/bin/node'; cat "$work/outpost.mjs"; } >"$fs/usr/local/bin/outpost"
  chmod 0755 "$fs/usr/local/bin/outpost"
  printf '{"name":"outpost","version":"%s","type":"module"}\n' "$version" >"$fs/usr/local/package.json"
  printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$fs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$fs/etc/group"
}

up_to_date() { # up_to_date PODMAN... : the image exists and was built from these sources
  [ -z "$force" ] || return 1
  "$@" image exists "$IMAGE" || return 1
  [ "$("$@" image inspect --format "{{index .Labels \"$LABEL\"}}" "$IMAGE")" = "$source_hash" ]
}

import_rootful() {
  up_to_date podman_rootful && return 0
  rootfs
  tar -C "$work/rootfs" -c . | podman_rootful import "${import_changes[@]}" --quiet - "$IMAGE" >/dev/null
  echo "build-connector-image: imported $IMAGE (rootful)" >&2
}

import_rootless() { # import_rootless USER
  up_to_date podman_as "$1" && return 0
  rootfs
  tar -C "$work/rootfs" -c . | podman_as "$1" import "${import_changes[@]}" --quiet - "$IMAGE" >/dev/null
  echo "build-connector-image: imported $IMAGE for $1 (rootless)" >&2
}

import_rootful
if [ -n "$user" ]; then
  id -u "$user" >/dev/null 2>&1 || { echo "build-connector-image: no user $user" >&2; exit 1; }
  import_rootless "$user"
fi
