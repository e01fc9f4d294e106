#!/usr/bin/env bash
# Install Debian's Chromium, which the browser tests drive through Playwright (Playwright itself
# downloads no browser). The package lists are refreshed only when the install needs it.
set -euo pipefail

command -v chromium >/dev/null 2>&1 && exit 0
echo "Installing chromium..."
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
command -v chromium >/dev/null 2>&1 || { echo "chromium did not install" >&2; exit 1; }
