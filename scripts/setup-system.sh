#!/usr/bin/env bash
# Installs the system packages the test suite needs, when missing.
# Idempotent and quiet when everything is there. Runs before `npm test`.
set -euo pipefail

missing=()
need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}

need kubectl kubernetes-client
# The PostgreSQL store's tests start throw-away clusters with these binaries (not on PATH).
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
# The podman runtime's tests: podman with runc (crun rejects this machine's hybrid
# cgroups; naming runc makes apt pick it over crun), its pause image's init,
# uid maps for rootless, and busybox-static for the locally built test image.
need podman podman
need runc runc
[ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
need newuidmap uidmap
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
# The process runtime shows ConfigMap/Secret volumes at the container's mountPath with bwrap.
need bwrap bubblewrap
# The agent's shifted-clock test runs it under libfaketime; its proxy test behind a real Squid.
need faketime faketime
need squid squid
# The official Python client is run against the hub by the system's Python (not a pyenv one on PATH).
/usr/bin/python3 -c 'import kubernetes' >/dev/null 2>&1 || missing+=(python3-kubernetes)
# The hub's /metrics is scraped by a real Prometheus, and its output checked with promtool (both in the package).
need prometheus prometheus
need promtool prometheus
# The hub's `--mqtt URL` bridge is tested against a real Mosquitto the test starts.
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
# The test runner reports each file's CPU time beside its wall time with GNU time.
[ -x /usr/bin/time ] || missing+=(time)
# The dashboard's browser tests drive Debian's Chromium with playwright-core (never `playwright install`).
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages ${missing[*]}; run as root or install them: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
