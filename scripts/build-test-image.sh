#!/usr/bin/env bash
# Builds the test image localhost/busybox:latest from Debian's busybox-static,
# without any registry: a root filesystem with the static busybox and relative
# symlinks for its applets, imported with `podman import`.
#
#   scripts/build-test-image.sh              # into root's (rootful) image store
#   scripts/build-test-image.sh --user NAME  # into NAME's rootless image store too
#
# Idempotent and quick when the image is already there (one `podman image exists`
# per store). Podman runs with a containers.conf that selects runc and low
# ulimits (see ../shared/notes/podman.md); a caller's CONTAINERS_CONF wins for
# the rootful store.
set -euo pipefail

IMAGE=localhost/busybox:latest
user=""
while [ $# -gt 0 ]; do
  case "$1" in
    --user) user="${2:?--user needs a user name}"; shift 2 ;;
    --image) IMAGE="${2:?--image needs a name}"; shift 2 ;;
    *) echo "usage: $0 [--user NAME] [--image NAME:TAG]" >&2; exit 2 ;;
  esac
done

busybox=/bin/busybox
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  echo "build-test-image: busybox-static is not installed (run scripts/setup-system.sh)" >&2
  exit 1
fi

# shellcheck source=scripts/podman-image.sh
source "$(dirname "$0")/podman-image.sh"

# An imported image has no configuration: give it the PATH that finds the applets.
import_changes=(--change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["sh"]')

rootfs() { # builds the root filesystem once, into $work/rootfs
  [ -d "$work/rootfs" ] && return 0
  mkdir -p "$work/rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root}
  chmod 1777 "$work/rootfs/tmp"
  cp "$busybox" "$work/rootfs/bin/busybox"
  # Each applet is a relative symlink to bin/busybox, where busybox would install it.
  local applet slashes up i
  while read -r applet; do
    case "$applet" in bin/busybox | "") continue ;; esac
    slashes=${applet//[^\/]/} # usr/bin/env -> "//" -> ../../bin/busybox
    up=""
    for ((i = 0; i < ${#slashes}; i++)); do up+="../"; done
    ln -sf "${up}bin/busybox" "$work/rootfs/$applet"
  done < <("$busybox" --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$work/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/rootfs/etc/group"
}

import_rootful() {
  podman_rootful image exists "$IMAGE" && return 0
  rootfs
  tar -C "$work/rootfs" -c . | podman_rootful import "${import_changes[@]}" --quiet - "$IMAGE" >/dev/null
  echo "build-test-image: imported $IMAGE (rootful)" >&2
}

import_rootless() { # import_rootless USER
  podman_as "$1" image exists "$IMAGE" && return 0
  rootfs
  tar -C "$work/rootfs" -c . | podman_as "$1" import "${import_changes[@]}" --quiet - "$IMAGE" >/dev/null
  echo "build-test-image: imported $IMAGE for $1 (rootless)" >&2
}

import_rootful
if [ -n "$user" ]; then
  id -u "$user" >/dev/null 2>&1 || { echo "build-test-image: no user $user" >&2; exit 1; }
  import_rootless "$user"
fi
