#!/usr/bin/env bash
# Make sure Debian's Chromium (and a font with Chinese glyphs, so the console's screenshots are
# legible) is installed for the browser tests. Playwright drives it through executable_path; we never
# run `playwright install`, which downloads its own browser builds. Quick no-op on re-run.
#
#   deploy/browser.sh            install chromium (and fonts-wqy-zenhei) if missing
#   SHUYUAN_CHROMIUM=/path ...   use another Chromium binary (nothing is installed then)
set -euo pipefail

CHROMIUM="${SHUYUAN_CHROMIUM:-/usr/bin/chromium}"

die() { echo "[browser] $*" >&2; exit 1; }

packages=()
if [[ ! -x "$CHROMIUM" ]]; then
    [[ -z "${SHUYUAN_CHROMIUM:-}" ]] || die "SHUYUAN_CHROMIUM=$CHROMIUM is not an executable"
    packages+=(chromium)
fi
if [[ -z "${SHUYUAN_CHROMIUM:-}" ]] && ! { command -v fc-list >/dev/null && [[ -n "$(fc-list :lang=zh)" ]]; }; then
    packages+=(fonts-wqy-zenhei)
fi
[[ ${#packages[@]} -eq 0 ]] && exit 0

command -v apt-get >/dev/null 2>&1 || die "missing ${packages[*]} and apt-get is not available: install them by hand"
SUDO=""
if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "missing ${packages[*]}: run as root or 'apt-get install ${packages[*]}'"
    SUDO="sudo"
fi
echo "[browser] installing Debian package(s) ${packages[*]} for the browser tests" >&2
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${packages[@]}" >&2
[[ -x "$CHROMIUM" ]] || die "apt-get finished but $CHROMIUM is still missing"
