#!/usr/bin/env bash
# Installs the Debian packages Strata needs. Quiet and quick when they are there.
source "$(dirname "$0")/lib.sh"

packages=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
          redis-server redis-tools libhiredis-dev postgresql-15-pgtap liblz4-dev
          python3 make gcc)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}; run this script as root or install them with apt-get"
log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package starts a cluster and a redis on the default ports; Strata runs its own.
if command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q '^15 main .* online'; then
    pg_ctlcluster 15 main stop || true
fi
if pgrep -x redis-server -u redis >/dev/null 2>&1; then
    (service redis-server stop || pkill -u redis -x redis-server) >/dev/null 2>&1 || true
fi
