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
  cat package-lock.json scripts/build-connector-image.sh scripts/bundle-connector.mjs
  readlink -f "$(command -v node)") | sha256sum | cut -c1-16)
LABEL=outpost.dev/source-hash

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work" # the rootless user reads the containers.conf in it
printf '%s\n' '[containers]' 'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]' \
  '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
  >"$work/containers.conf"
chmod 0644 "$work/containers.conf"
rootful_conf="${CONTAINERS_CONF:-$work/containers.conf}"

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
  local podman=(env CONTAINERS_CONF="$rootful_conf" podman)
  up_to_date "${podman[@]}" && return 0
  rootfs
  tar -C "$work/rootfs" -c . | "${podman[@]}" import "${import_changes[@]}" --quiet - "$IMAGE" >/dev/null
  echo "build-connector-image: imported $IMAGE (rootful)" >&2
}

import_rootless() { # import_rootless USER
  local home uid runtime_dir
  home=$(getent passwd "$1" | cut -d: -f6)
  uid=$(id -u "$1")
  runtime_dir=/run/user/$uid
  mkdir -p "$runtime_dir" && chown "$1:" "$runtime_dir" && chmod 0700 "$runtime_dir"
  local as_user=(runuser -u "$1" -- env HOME="$home" XDG_RUNTIME_DIR="$runtime_dir"
    CONTAINERS_CONF="$work/containers.conf" podman)
  (cd / && up_to_date "${as_user[@]}") && return 0
  rootfs
  tar -C "$work/rootfs" -c . | (cd / && "${as_user[@]}" import "${import_changes[@]}" --quiet - "$IMAGE" >/dev/null)
  echo "build-connector-image: imported $IMAGE for $1 (rootless)" >&2
}

import_rootful
if [ -n "$user" ]; then
  id -u "$user" >/dev/null 2>&1 || { echo "build-connector-image: no user $user" >&2; exit 1; }
  import_rootless "$user"
fi
