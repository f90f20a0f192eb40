#!/bin/sh
# Remove the commune edge node service and its program files. The data (the home:
# database, keys, backups, logs) and the service account are KEPT unless --purge.
#
#   sudo install/linux/uninstall.sh                 # keep the data for a reinstall
#   sudo install/linux/uninstall.sh --purge         # also delete the home, after a last backup
set -eu

PREFIX=${EDGE_NODE_PREFIX:-/opt/edge-node}
HOME_DIR=${EDGE_NODE_HOME:-/var/lib/edge-node}
UNIT_DIR=${EDGE_NODE_UNIT_DIR:-/etc/systemd/system}
BIN_DIR=${EDGE_NODE_BIN_DIR:-/usr/local/bin}
SERVICE_USER=${EDGE_NODE_USER:-edge-node}
SERVICE=${EDGE_NODE_SERVICE:-edge-node}
NO_SYSTEMCTL=${EDGE_NODE_NO_SYSTEMCTL:-0}
PURGE=0
YES=0
BACKUP=1
BACKUP_DIR=$(pwd)

usage() {
    echo "Usage: uninstall.sh [options]"
    echo "  --purge           also delete the home (the data) and the service account"
    echo "  --yes             do not ask before --purge deletes the data"
    echo "  --no-backup       with --purge: skip the last 'edge-node backup' before deleting"
    echo "  --backup-dir DIR  with --purge: where that last backup goes (default: this folder)"
    echo "  --prefix, --home, --unit-dir, --bin-dir, --user, --service, --no-systemctl:"
    echo "                    as for install.sh"
}
die() { echo "uninstall.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --home) HOME_DIR=$2; shift 2 ;;
        --unit-dir) UNIT_DIR=$2; shift 2 ;;
        --bin-dir) BIN_DIR=$2; shift 2 ;;
        --user) SERVICE_USER=$2; shift 2 ;;
        --service) SERVICE=$2; shift 2 ;;
        --no-systemctl) NO_SYSTEMCTL=1; shift ;;
        --purge) PURGE=1; shift ;;
        --yes) YES=1; shift ;;
        --no-backup) BACKUP=0; shift ;;
        --backup-dir) BACKUP_DIR=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done
if [ "$NO_SYSTEMCTL" != 1 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo $0)"; fi

if [ "$NO_SYSTEMCTL" != 1 ]; then
    systemctl disable --now "$SERVICE" 2>/dev/null || true
fi

if [ "$PURGE" = 1 ] && [ -d "$HOME_DIR" ]; then
    if [ "$YES" != 1 ]; then
        printf 'Delete ALL data in %s (dossiers, keys, backups)? Type DELETE to confirm: ' \
            "$HOME_DIR"
        read -r answer
        [ "$answer" = DELETE ] || die "not confirmed; nothing deleted"
    fi
    # a last copy before the data goes, when this version has 'edge-node backup'
    if [ "$BACKUP" = 1 ] && [ -x "$PREFIX/venv/bin/python" ] \
        && "$PREFIX/venv/bin/python" -m edge_node backup --help >/dev/null 2>&1; then
        OUT="$BACKUP_DIR/edge-node-before-purge-$(date -u +%Y%m%dT%H%M%SZ).zip"
        echo "Last backup before deleting: $OUT"
        EDGE_NODE_HOME="$HOME_DIR" "$PREFIX/venv/bin/python" -m edge_node backup --out "$OUT" \
            || die "the last backup failed; nothing deleted (use --no-backup to skip it)"
    fi
fi

rm -f "$UNIT_DIR/$SERVICE.service"
if [ "$NO_SYSTEMCTL" != 1 ]; then systemctl daemon-reload || true; fi
if [ -f "$BIN_DIR/edge-node" ] && grep -q "written by install.sh" "$BIN_DIR/edge-node"; then
    rm -f "$BIN_DIR/edge-node"
fi
rm -rf "$PREFIX"
echo "Removed the service $SERVICE and the program files in $PREFIX."

if [ "$PURGE" = 1 ]; then
    rm -rf "$HOME_DIR"
    if [ "$SERVICE_USER" != root ] && [ "$SERVICE_USER" != "$(id -un)" ] \
        && id -u "$SERVICE_USER" >/dev/null 2>&1; then
        userdel "$SERVICE_USER" || true
    fi
    echo "Deleted the home $HOME_DIR and the account $SERVICE_USER."
else
    echo "The data in $HOME_DIR is kept: reinstall with install.sh to use it again,"
    echo "or delete it with: uninstall.sh --purge"
fi
