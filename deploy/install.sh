#!/bin/sh
# Installs Sluice on Raspberry Pi OS / Debian (arm64, armhf, amd64) as a hardened systemd service, or
# removes it. Idempotent: running it again upgrades the application and keeps the config and the data.
#
#   sudo deploy/install.sh                 install or upgrade (from a checkout or release with dist/ built)
#   sudo deploy/install.sh --uninstall     remove the application and the unit; keep config and queued data
#   sudo deploy/install.sh --uninstall --purge   also remove /etc/sluice, /var/lib/sluice and the user
#
# Options for packaging and tests: --root DIR prefixes every path written (a scratch root or DESTDIR; no
# user is created there), --no-systemctl skips systemctl/udevadm, --no-npm skips installing the runtime
# dependencies (npm ci --omit=dev in /opt/sluice).
set -eu

ROOT=/
SYSTEMCTL=1
NPM=1
ACTION=install
PURGE=0

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || { echo "install.sh: --root needs a directory" >&2; exit 2; }; ROOT=$2; shift ;;
    --root=*) ROOT=${1#--root=} ;;
    --no-systemctl) SYSTEMCTL=0 ;;
    --no-npm) NPM=0 ;;
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

ROOT=${ROOT%/}
APP=/opt/sluice
BIN=/usr/local/bin/sluice
ETC=/etc/sluice
CONFIG=$ETC/sluice.yaml
UNIT=/etc/systemd/system/sluice.service
UDEV=/etc/udev/rules.d/60-sluice-serial.rules
DATA=/var/lib/sluice
SRC=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

say() { printf 'sluice install: %s\n' "$*"; }
die() { printf 'sluice install: %s\n' "$*" >&2; exit 1; }
# Only the real root gets users, ownership and services; a scratch root gets files only.
real_root() { [ -z "$ROOT" ]; }

if ! real_root; then
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
fi
if real_root && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0), or use --root DIR to install into a directory"
fi

check_node() {
  if ! command -v node >/dev/null 2>&1; then
    say "Node.js >= 20.19 is needed and was not found."
    node_hint
    exit 1
  fi
  version=$(node -p 'process.versions.node')
  major=${version%%.*}
  rest=${version#*.}
  minor=${rest%%.*}
  if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
    say "Node.js $version is too old; Sluice needs >= 20.19."
    node_hint
    exit 1
  fi
}

node_hint() {
  cat <<'HINT'
  Debian 13 (trixie) and later:   sudo apt-get install -y nodejs npm
  Debian 12 / Raspberry Pi OS 12:  curl -fsSL https://deb.nodesource.com/setup_22.x | sudo -E bash - \
                                   && sudo apt-get install -y nodejs
  (NodeSource packages cover arm64, armhf and amd64; Pi 1 / Zero (armv6) are not supported by Node 20.)
HINT
}

check_arch() {
  arch=$(uname -m)
  case "$arch" in
    aarch64|arm64|x86_64|amd64) ;;
    armv7l|armv8l) say "armhf: lmdb and serialport ship prebuilt armv7 binaries; if npm falls back to compiling, install build-essential and python3" ;;
    armv6l) die "armv6 (Pi 1, Pi Zero W) is not supported: Node.js 20 has no armv6 builds" ;;
    *) say "untested architecture $arch; continuing" ;;
  esac
}

install_files() {
  [ -f "$SRC/dist/gateway/cli/main.js" ] ||
    die "no build in $SRC/dist: run \`npm ci && npm run build\` in $SRC first"
  node_bin=$(command -v node)

  say "application -> $ROOT$APP"
  mkdir -p "$ROOT$APP"
  # Replace the code wholesale so files removed upstream do not linger; node_modules is refreshed below.
  rm -rf "$ROOT$APP/dist" "$ROOT$APP/deploy"
  cp -R "$SRC/dist" "$SRC/deploy" "$ROOT$APP/"
  for f in package.json package-lock.json README.md CHANGELOG.md; do
    [ -f "$SRC/$f" ] && cp "$SRC/$f" "$ROOT$APP/$f"
  done
  if [ "$NPM" -eq 1 ]; then
    say "runtime dependencies (npm ci --omit=dev)"
    (cd "$ROOT$APP" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  else
    say "skipping runtime dependencies (--no-npm): run \`npm ci --omit=dev\` in $APP"
  fi

  say "command -> $ROOT$BIN"
  mkdir -p "$ROOT$(dirname "$BIN")"
  printf '#!/bin/sh\nexec %s %s/dist/gateway/cli/main.js "$@"\n' "$node_bin" "$APP" >"$ROOT$BIN.tmp"
  chmod 0755 "$ROOT$BIN.tmp"
  mv "$ROOT$BIN.tmp" "$ROOT$BIN"

  say "config -> $ROOT$CONFIG"
  mkdir -p "$ROOT$ETC"
  if [ -f "$ROOT$CONFIG" ]; then
    say "  kept the existing $CONFIG"
  else
    host=$(hostname 2>/dev/null | tr -c 'A-Za-z0-9_.\n-' '-' | cut -c1-64)
    sed "s/^  id: CHANGE-ME /  id: ${host:-sluice} /" "$SRC/deploy/config/sluice.yaml" >"$ROOT$CONFIG"
    chmod 0640 "$ROOT$CONFIG"
  fi

  say "serial udev rule examples -> $ROOT$UDEV"
  mkdir -p "$ROOT$(dirname "$UDEV")"
  if [ -f "$ROOT$UDEV" ] && ! cmp -s "$ROOT$UDEV" "$SRC/deploy/udev/60-sluice-serial.rules"; then
    say "  kept your edited $UDEV"
  else
    cp "$SRC/deploy/udev/60-sluice-serial.rules" "$ROOT$UDEV"
  fi

  say "systemd unit -> $ROOT$UNIT"
  mkdir -p "$ROOT$(dirname "$UNIT")"
  sed "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" "$SRC/deploy/systemd/sluice.service" >"$ROOT$UNIT"
  chmod 0644 "$ROOT$UNIT"

  mkdir -p "$ROOT$DATA"
  chmod 0750 "$ROOT$DATA"

  if real_root; then
    if ! getent passwd sluice >/dev/null; then
      say "user sluice (system user, group dialout for serial ports)"
      useradd --system --user-group --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin sluice
    fi
    usermod -a -G dialout sluice
    chown sluice:sluice "$DATA"
    chown root:sluice "$CONFIG"
  else
    say "scratch root: not creating user sluice nor changing ownership"
  fi
}

start_service() {
  if [ "$SYSTEMCTL" -eq 0 ]; then
    say "skipping systemctl (--no-systemctl)"
    return
  fi
  udevadm control --reload-rules || say "udevadm reload failed; the rules apply at the next boot"
  systemctl daemon-reload
  systemctl enable sluice.service
  if systemctl is-active --quiet sluice.service; then
    say "restarting the running gateway on the new version"
    systemctl restart sluice.service
  else
    say "edit $CONFIG, check it with \`sluice check $CONFIG\`, then: systemctl start sluice"
  fi
}

uninstall() {
  if [ "$SYSTEMCTL" -eq 1 ] && [ -f "$ROOT$UNIT" ]; then
    systemctl disable --now sluice.service || say "systemctl disable failed; continuing"
  fi
  rm -f "$ROOT$UNIT" "$ROOT$BIN"
  if [ "$SYSTEMCTL" -eq 1 ]; then systemctl daemon-reload; fi
  rm -rf "$ROOT$APP"
  if [ -f "$ROOT$UDEV" ]; then
    if [ "$PURGE" -eq 1 ] || cmp -s "$ROOT$UDEV" "$SRC/deploy/udev/60-sluice-serial.rules"; then
      rm -f "$ROOT$UDEV"
    else
      say "kept your edited $UDEV (remove it with --purge)"
    fi
  fi
  if [ "$PURGE" -eq 1 ]; then
    rm -rf "$ROOT$ETC" "$ROOT$DATA"
    if real_root && getent passwd sluice >/dev/null; then userdel sluice; fi
    say "removed, including config, queued data and the user"
  else
    say "removed; kept $ETC and $DATA (readings not yet forwarded live there): --purge removes them"
  fi
}

if [ "$ACTION" = uninstall ]; then
  uninstall
else
  check_node
  check_arch
  install_files
  start_service
  say "done: \`sluice status\` once it runs; logs: journalctl -u sluice -f"
fi
