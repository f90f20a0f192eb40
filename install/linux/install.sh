#!/bin/sh
# Install, or upgrade in place, the commune edge node as a systemd service.
#
#   sudo install/linux/install.sh                       # from PyPI, hash-checked
#   sudo install/linux/install.sh --wheelhouse DIR      # offline, from a folder of wheels
#
# Run it again to upgrade: a new virtualenv is built beside the old one, the
# service is stopped, 'edge-node migrate' runs (when that command exists), the
# service starts on the new code; the home and its data are kept. If the new
# version fails, the previous virtualenv is put back. Options and defaults:
# docs/install.md. Every path option also reads an environment variable so a
# test can install into a throwaway prefix without touching the system.
set -eu

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$SCRIPT_DIR/../.." && pwd)
PREFIX=${EDGE_NODE_PREFIX:-/opt/edge-node}
HOME_DIR=${EDGE_NODE_HOME:-/var/lib/edge-node}
UNIT_DIR=${EDGE_NODE_UNIT_DIR:-/etc/systemd/system}
BIN_DIR=${EDGE_NODE_BIN_DIR:-/usr/local/bin}
SERVICE_USER=${EDGE_NODE_USER:-edge-node}
SERVICE=${EDGE_NODE_SERVICE:-edge-node}
PYTHON=${EDGE_NODE_PYTHON:-python3}
LOCK=${EDGE_NODE_LOCK:-$SCRIPT_DIR/../requirements.lock}
WHEELHOUSE=${EDGE_NODE_WHEELHOUSE:-}
NO_SYSTEMCTL=${EDGE_NODE_NO_SYSTEMCTL:-0}
SYSTEM_SITE=${EDGE_NODE_SYSTEM_SITE_PACKAGES:-0}
PORT=${EDGE_NODE_INSTALL_PORT:-}
LAN=0

usage() {
    cat <<EOF
Usage: install.sh [options]
  --prefix DIR          program files (default /opt/edge-node; env EDGE_NODE_PREFIX)
  --home DIR            node home, the data (default /var/lib/edge-node; env EDGE_NODE_HOME)
  --unit-dir DIR        where the systemd unit goes (default /etc/systemd/system)
  --bin-dir DIR         where the 'edge-node' command goes (default /usr/local/bin)
  --user NAME           service account, created if missing (default edge-node)
  --service NAME        systemd service name (default edge-node)
  --python PATH         Python 3.11 or newer to build the virtualenv (default python3)
  --lock FILE           hash-locked requirements (default install/requirements.lock)
  --wheelhouse DIR      install offline from this folder of wheels (pip --no-index)
  --system-site-packages  let the virtualenv use the system's packages (tests, distros)
  --port N              port of the web interface at first install (default 8080)
  --lan                 LAN mode at first install: other PCs of the office can connect
  --no-systemctl        write the unit but do not call systemctl (env EDGE_NODE_NO_SYSTEMCTL=1)
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --home) HOME_DIR=$2; shift 2 ;;
        --unit-dir) UNIT_DIR=$2; shift 2 ;;
        --bin-dir) BIN_DIR=$2; shift 2 ;;
        --user) SERVICE_USER=$2; shift 2 ;;
        --service) SERVICE=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --lock) LOCK=$2; shift 2 ;;
        --wheelhouse) WHEELHOUSE=$2; shift 2 ;;
        --system-site-packages) SYSTEM_SITE=1; shift ;;
        --port) PORT=$2; shift 2 ;;
        --lan) LAN=1; shift ;;
        --no-systemctl) NO_SYSTEMCTL=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done

case "$PREFIX$HOME_DIR" in *" "*) die "paths with spaces are not supported" ;; esac
if [ "$NO_SYSTEMCTL" != 1 ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo $0), or pass --no-systemctl with paths you may write"
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is missing or older than 3.11 (Debian 12: apt install python3 python3-venv)"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON cannot create virtualenvs (Debian: apt install python3-venv)"
[ -f "$LOCK" ] || die "no requirements lock at $LOCK"
if [ -n "$WHEELHOUSE" ]; then
    [ -d "$WHEELHOUSE" ] || die "no wheelhouse folder $WHEELHOUSE"
    WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)
fi
case "$(readlink -f "$(command -v "$PYTHON")")" in
    /home/*|/root/*) echo "install.sh: warning: $PYTHON lives under /home or /root, which" \
        "the unit's ProtectHome=yes hides from the service" >&2 ;;
esac

# --- the service account (a system user without a login shell) -------------------------
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$HOME_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "Commune edge node" "$SERVICE_USER"
    echo "Created the service account $SERVICE_USER"
fi
GROUP=$(id -gn "$SERVICE_USER")

run_as() {  # run a command as the service account, with the home set
    if [ "$(id -u)" = 0 ] && [ "$SERVICE_USER" != "$(id -un)" ]; then
        runuser -u "$SERVICE_USER" -- env EDGE_NODE_HOME="$HOME_DIR" "$@"
    else
        env EDGE_NODE_HOME="$HOME_DIR" "$@"
    fi
}

# --- a new virtualenv beside the current one --------------------------------------------
mkdir -p "$PREFIX/venvs"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
NEW="$PREFIX/venvs/$STAMP"
[ -e "$NEW" ] && NEW="$NEW-$$"
BUILD=$(mktemp -d)
COMMITTED=0
cleanup() {
    rm -rf "$BUILD"
    if [ "$COMMITTED" = 0 ]; then rm -rf "$NEW"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "Building the virtualenv $NEW"
if [ "$SYSTEM_SITE" = 1 ]; then
    # pip and setuptools then come from the system too (a bundled old copy would shadow them)
    "$PYTHON" -m venv --system-site-packages --without-pip "$NEW"
else
    "$PYTHON" -m venv "$NEW"
fi
PIP="$NEW/bin/python -m pip --disable-pip-version-check --no-input"
if [ -n "$WHEELHOUSE" ]; then
    SOURCE_OPTS="--no-index --find-links $WHEELHOUSE"
else
    SOURCE_OPTS=""
fi
# dependencies (and setuptools, to build the node): exactly the locked versions, each
# file checked against its sha256
# shellcheck disable=SC2086
$PIP install $SOURCE_OPTS --require-hashes --no-deps -r "$LOCK" \
    || die "dependencies not installed (hash mismatch, missing wheel or no network); nothing changed"
# the node itself: its wheel from the wheelhouse, else built from this source tree offline
# (--no-deps: its dependencies are the locked ones above; --force-reinstall: never take
# a copy that --system-site-packages happens to show)
if [ -n "$WHEELHOUSE" ] && ls "$WHEELHOUSE"/commune_edge_node-*.whl >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    $PIP install $SOURCE_OPTS --no-deps --force-reinstall commune-edge-node \
        || die "the node's wheel did not install"
else
    mkdir "$BUILD/src"  # a clean copy: no stale build/ folder from an earlier build
    cp -R "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/edge_node" "$SRC/sync" "$SRC/static" \
        "$BUILD/src/"
    $PIP install --no-index --no-build-isolation --no-deps --force-reinstall "$BUILD/src" \
        || die "the node did not build from $SRC"
fi
if [ "$SYSTEM_SITE" != 1 ]; then
    $PIP check || die "the lock misses a dependency of the node (regenerate it: install/make_lock.sh)"
fi
(cd "$BUILD" && "$NEW/bin/python" -c "import edge_node.cli, edge_node.web.app, edge_node.jobs, \
edge_node.serving, sync.hub.app") || die "the new virtualenv cannot import the node"
VERSION=$("$NEW/bin/edge-node" --version | awk '{print $NF}')

# --- the home: data, keys, logs; only the service account may enter ---------------------
mkdir -p "$HOME_DIR"
chown "$SERVICE_USER:$GROUP" "$HOME_DIR"
chmod 0700 "$HOME_DIR"

# --- switch to the new virtualenv (the previous one stays for a rollback) ----------------
OLD=""
[ -L "$PREFIX/venv" ] && OLD=$(readlink -f "$PREFIX/venv")
WAS_ACTIVE=0
if [ "$NO_SYSTEMCTL" != 1 ] && systemctl is-active --quiet "$SERVICE" 2>/dev/null; then
    WAS_ACTIVE=1
    echo "Stopping $SERVICE for the upgrade"
    systemctl stop "$SERVICE"
fi
switch_to() {  # atomically point $PREFIX/venv at $1
    ln -sfn "$1" "$PREFIX/venv.new"
    mv -Tf "$PREFIX/venv.new" "$PREFIX/venv"
}
rollback() {
    if [ -n "$OLD" ]; then
        switch_to "$OLD"
        COMMITTED=0  # the failed virtualenv is deleted on exit
        echo "Rolled back to the previous version ($OLD)" >&2
        if [ "$WAS_ACTIVE" = 1 ]; then systemctl start "$SERVICE" || true; fi
    fi
}
switch_to "$NEW"
COMMITTED=1

# --- schema upgrade, then home initialisation (first install prints the admin password) --
if [ -n "$OLD" ] && "$NEW/bin/python" -m edge_node migrate --help >/dev/null 2>&1; then
    echo "Migrating the database (edge-node migrate backs it up first)"
    if ! run_as "$NEW/bin/python" -m edge_node migrate; then
        rollback
        die "edge-node migrate failed; the previous version is back and the data unchanged"
    fi
fi
INIT_ENV=""
[ -n "$PORT" ] && INIT_ENV="EDGE_NODE_PORT=$PORT"
[ "$LAN" = 1 ] && INIT_ENV="$INIT_ENV EDGE_NODE_LAN=true"
# shellcheck disable=SC2086
if ! INIT_OUT=$(run_as env $INIT_ENV "$NEW/bin/python" -m edge_node init 2>&1); then
    printf '%s\n' "$INIT_OUT" >&2
    rollback
    die "edge-node init failed on the home $HOME_DIR"
fi
PASSWORD=$(printf '%s\n' "$INIT_OUT" | sed -n 's/^  password: //p')
URL=$(run_as "$NEW/bin/python" -c 'import sys
from edge_node.config import LOOPBACK_HOSTS, load_config
c = load_config(sys.argv[1])
h = c.listen_host
shown = "127.0.0.1" if h in ("0.0.0.0", "::") else h
print(f"http://{shown}:{c.port}/", "local" if h in LOOPBACK_HOSTS else "lan")' "$HOME_DIR")
MODE=${URL#* }
URL=${URL% *}

# --- the command admins type: runs as the service account so files keep their owner -----
mkdir -p "$BIN_DIR"
cat > "$BIN_DIR/edge-node" <<EOF
#!/bin/sh
# The installed commune edge node (written by install.sh). Runs as the service
# account '$SERVICE_USER' so that files in the home keep their owner.
export EDGE_NODE_HOME="\${EDGE_NODE_HOME:-$HOME_DIR}"
if [ "\$(id -u)" = 0 ] && [ "$SERVICE_USER" != root ]; then
    exec runuser -u "$SERVICE_USER" -- env EDGE_NODE_HOME="\$EDGE_NODE_HOME" \\
        "$PREFIX/venv/bin/edge-node" "\$@"
fi
exec "$PREFIX/venv/bin/edge-node" "\$@"
EOF
chmod 0755 "$BIN_DIR/edge-node"

# --- the systemd unit -----------------------------------------------------------------
mkdir -p "$UNIT_DIR"
UNIT="$UNIT_DIR/$SERVICE.service"
cat > "$UNIT.tmp" <<EOF
# Written by install/linux/install.sh; run install.sh again rather than editing it.
[Unit]
Description=Commune edge node (One-stop dossiers, offline first)
After=network.target

[Service]
Type=simple
User=$SERVICE_USER
Group=$GROUP
Environment=EDGE_NODE_HOME=$HOME_DIR
Environment=PYTHONUNBUFFERED=1
# glibc keeps one malloc arena per waitress thread; two cap the peak under load (bench/README.md)
Environment=MALLOC_ARENA_MAX=2
WorkingDirectory=$HOME_DIR
ExecStart=$PREFIX/venv/bin/python -m edge_node serve
# SIGTERM stops waitress cleanly and records a clean stop in the home
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=5
# 6 damaged database, 7 no home: restarting cannot help, a person must act
RestartPreventExitStatus=6 7
UMask=0077
# hardening: the node needs its home, the network, and nothing else
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=$HOME_DIR
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
EOF
mv -f "$UNIT.tmp" "$UNIT"

# --- start it and wait until it answers ------------------------------------------------
STARTED=0
if [ "$NO_SYSTEMCTL" != 1 ]; then
    systemctl daemon-reload
    systemctl enable "$SERVICE" >/dev/null
    systemctl restart "$SERVICE"
    i=0
    while [ $i -lt 120 ]; do  # a big database after an unclean stop is checked first
        if run_as "$NEW/bin/python" -m edge_node status --no-db-check >/dev/null 2>&1; then
            STARTED=1; break
        fi
        i=$((i + 1)); sleep 1
    done
    if [ "$STARTED" != 1 ]; then
        journalctl -u "$SERVICE" -n 20 --no-pager >&2 || true
        if [ -n "$OLD" ]; then
            systemctl stop "$SERVICE" || true
            WAS_ACTIVE=1
            rollback
        fi
        die "the service did not start (see above and: journalctl -u $SERVICE)"
    fi
fi

# keep the current and the previous virtualenv, delete older ones
for d in "$PREFIX"/venvs/*; do
    [ -d "$d" ] || continue
    [ "$d" = "$NEW" ] || [ "$d" = "$OLD" ] || rm -rf "$d"
done

echo ""
if [ -n "$OLD" ]; then
    echo "Commune edge node upgraded to $VERSION; the data in $HOME_DIR is kept."
else
    echo "Commune edge node $VERSION installed; data in $HOME_DIR."
fi
echo "  Open: $URL"
if [ -n "$PASSWORD" ]; then
    echo "  First login: username admin, password $PASSWORD"
    echo "  (shown only once; the node asks for a new password at the first login)"
else
    echo "  Log in with your existing accounts (lost the admin password? edge-node user reset-password admin)"
fi
if [ "$MODE" = lan ]; then
    echo "  LAN mode: other PCs open http://<this PC's address>:${URL##*:}"
    echo "  ($(hostname -I 2>/dev/null || echo 'ip addr')); allow the port in the firewall if one runs."
fi
if [ "$STARTED" = 1 ]; then
    echo "  Service: systemctl status $SERVICE    Status: edge-node status"
else
    echo "  Unit written to $UNIT; start it with: systemctl daemon-reload && systemctl enable --now $SERVICE"
fi
