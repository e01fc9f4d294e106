#!/usr/bin/env bash
# Install Debian's kamailio (the registrar), baresip and linphonec (the phones) for the SIP
# end-to-end test (tests/sip) and scripts/registrar.py. The package lists are refreshed only
# when the install needs it.
set -euo pipefail

have() { command -v kamailio >/dev/null 2>&1 && command -v baresip >/dev/null 2>&1 \
  && command -v linphonec >/dev/null 2>&1; }
have && exit 0
echo "Installing kamailio, baresip and linphone-cli..."
export DEBIAN_FRONTEND=noninteractive
packages=(kamailio baresip-core linphone-cli)
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null 2>&1 \
  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
# The package enables a system-wide kamailio service; the tests start their own on loopback.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now kamailio >/dev/null 2>&1 || true; fi
have || { echo "kamailio, baresip or linphonec did not install" >&2; exit 1; }
