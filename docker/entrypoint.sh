#!/bin/sh
# Runs `xtrace $MODE $XTRACE_ARGS`, or the command given (`docker run ... xtrace interfaces`, `sh`).
# INTERFACE, NETWORK_INTERFACE, DEVICE, TARGET_IP and INTERVAL are read by xtrace itself.
set -e
if [ "$#" -gt 0 ]; then exec "$@"; fi
case "$MODE" in
  xdp|rdma|nccl) ;;
  stack|limit) echo "xtrace: MODE=$MODE is not in this version (available: xdp, rdma, nccl)" >&2; exit 2 ;;
  *) echo "xtrace: MODE: expected xdp|rdma|nccl, got '$MODE'" >&2; exit 2 ;;
esac
# XTRACE_ARGS is split on white space, like a shell command line without quotes.
# shellcheck disable=SC2086
exec node /app/dist/src/cli.js "$MODE" $XTRACE_ARGS
