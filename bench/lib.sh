# Sourced by bench/build and the peers' install scripts.
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
BUILD=${BENCH_BUILD_DIR:-$BENCH/.build}
mkdir -p "$BUILD"

# Installs the Debian packages that are missing (none: no apt call at all).
apt_need() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing with apt: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "not root: install ${missing[*]} first" >&2
    return 1
  fi
  if [ ! -e "$BUILD/.apt-updated" ]; then
    apt-get update -qq && touch "$BUILD/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
}

# A stamp that changes with the given files: rebuild only when they do.
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }
