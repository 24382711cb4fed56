#!/usr/bin/env bash
# Hostile clients against a local Överblick: schemathesis (GraphQL mode, from
# schema/schema.graphql) must find no fault of the service, and clairvoyance (which rebuilds a
# schema from error messages when introspection is off) must recover none of it.
#
# Installs pinned versions of both in a virtualenv under the cargo target folder, then runs
# tests/hostile_clients.rs with them: it starts the `overblick` binary in production mode with
# a test token issuer, runs both tools, and checks what they report.
#
# Usage: scripts/hostile-clients.sh            (needs python3 with venv, and PyPI)
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
CLAIRVOYANCE_VERSION=2.5.5

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
venv="$target/hostile-clients-venv"

installed() {
    # Not `grep -q`: it would stop reading, and pip's broken pipe fail the pipeline.
    "$venv/bin/python" -m pip show "$1" 2>/dev/null | grep -x "Version: $2" > /dev/null
}

if ! installed schemathesis "$SCHEMATHESIS_VERSION" || ! installed clairvoyance "$CLAIRVOYANCE_VERSION"; then
    echo "Installing schemathesis $SCHEMATHESIS_VERSION and clairvoyance $CLAIRVOYANCE_VERSION in $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" "clairvoyance==$CLAIRVOYANCE_VERSION"
fi

OVERBLICK_HOSTILE_TOOLS="$(cd "$venv/bin" && pwd)" \
    exec cargo test --test hostile_clients -- --nocapture
