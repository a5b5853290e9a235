#!/usr/bin/env bash
# Installs the real peers the test suite talks to, when they are missing:
# Dovecot (IMAP), Postfix's smtp-sink (SMTP), PostgreSQL and Chromium (the
# web inbox's browser tests). Fails with a clear message when it cannot.
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ] || need+=(postfix)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
command -v gcc >/dev/null 2>&1 || need+=(gcc)   # go test -race needs cgo
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
# Arabic glyphs for the browser tests' screenshots.
[ -e /usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf ] || need+=(fonts-noto-core)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "test-deps: installing ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "test-deps: missing ${need[*]} and not root: install them with apt-get install -y ${need[*]} (or run make test as root)" >&2
    exit 1
  fi
else
  SUDO=
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: missing ${need[*]} and no apt-get here: install Dovecot (IMAP), Postfix (smtp-sink), PostgreSQL 13+ and Chromium yourself" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's maintainer scripts try to start the services; there may be no init
# system (containers, CI). The tests start their own instances.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
  echo "test-deps: apt-get install ${need[*]} failed" >&2; exit 1; }
echo "test-deps: installed ${need[*]}"
