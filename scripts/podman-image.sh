# Sourced by the scripts that import images without a registry
# (build-test-image.sh, build-connector-image.sh): a work dir with the
# containers.conf podman needs on these machines (runc, low ulimits; see
# ../shared/notes/podman.md), and podman run against root's store or a
# user's rootless store. A caller's CONTAINERS_CONF wins for the rootful store.

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work" # the rootless user reads the containers.conf in it
printf '%s\n' '[containers]' 'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]' \
  '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
  >"$work/containers.conf"
chmod 0644 "$work/containers.conf"
rootful_conf="${CONTAINERS_CONF:-$work/containers.conf}"

podman_rootful() { # podman_rootful ARGS... : podman on root's image store
  env CONTAINERS_CONF="$rootful_conf" podman "$@"
}

podman_as() { # podman_as USER ARGS... : podman on USER's rootless image store
  local user=$1 home uid runtime_dir
  shift
  home=$(getent passwd "$user" | cut -d: -f6)
  uid=$(id -u "$user")
  runtime_dir=/run/user/$uid
  mkdir -p "$runtime_dir" && chown "$user:" "$runtime_dir" && chmod 0700 "$runtime_dir"
  (cd / && runuser -u "$user" -- env HOME="$home" XDG_RUNTIME_DIR="$runtime_dir" \
    CONTAINERS_CONF="$work/containers.conf" podman "$@")
}
