#!/bin/sh
# Runs `xtrace $XTRACE_ARGS` with MODE choosing the mode (the CLI checks MODE against its registry),
# or the command given (`docker run ... xtrace interfaces`, `sh`).
# INTERFACE, NETWORK_INTERFACE, DEVICE, TARGET_IP and INTERVAL are read by xtrace itself.
set -e
if [ "$#" -gt 0 ]; then exec "$@"; fi
# XTRACE_ARGS is split on white space, like a shell command line without quotes.
# shellcheck disable=SC2086
exec node /app/dist/src/cli.js $XTRACE_ARGS
