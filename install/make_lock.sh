#!/bin/sh
# Regenerate install/requirements.lock: every dependency pinned with the sha256 of
# every file PyPI offers for that version (Linux, Windows, macOS wheels and sdists),
# so install.sh (Linux) and build_bundle.py (Windows) both install with
# --require-hashes; setuptools (the build backend) is locked too, to build the node from
# source offline. The versions are the ones the test suite ran with: run this in
# the environment where 'python -m pytest' passed. Needs network and pip-tools:
#     python -m venv /tmp/piptools && /tmp/piptools/bin/pip install pip-tools
#     COMPILER=/tmp/piptools/bin/pip-compile install/make_lock.sh
set -eu
cd "$(dirname "$0")/.."
COMPILER=${COMPILER:-pip-compile}
mkdir -p build
python -m pip freeze --exclude-editable | grep -vi '^commune-edge-node' > build/tested-versions.txt
env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "$COMPILER" --quiet --generate-hashes \
    --strip-extras --no-emit-index-url --no-emit-find-links --allow-unsafe --build-deps-for wheel \
    --constraint build/tested-versions.txt --output-file install/requirements.lock pyproject.toml
echo "install/requirements.lock: $(grep -c '==' install/requirements.lock) pinned packages"
