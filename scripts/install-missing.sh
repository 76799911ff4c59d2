#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages whose commands or files are missing.
# Usage: install-missing.sh WHAT:PACKAGE ...   (WHAT is a command name, or an absolute path to a file)
set -euo pipefail
missing=()
for pair in "$@"; do
  what=${pair%%:*}
  pkg=${pair#*:}
  if [[ $what == /* ]]; then [ -e "$what" ] && continue
  else command -v "$what" >/dev/null 2>&1 && continue; [ -x "/usr/sbin/$what" ] && continue; fi
  [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "xtrace: missing: ${missing[*]}; install them with your package manager" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "xtrace: missing: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
# Packages install tools, not running services: the test servers (prometheus, victoria-metrics,
# node_exporter) are started by the tests on ports of their own, so no daemon is started here.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
