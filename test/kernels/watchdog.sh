# A watchdog for a background process, sourced by test/kernels/run.sh: watchdog_start SECONDS PID kills
# PID (SIGKILL) once SECONDS have passed; watchdog_stop ends the watchdog and its timer. The watchdog
# holds none of the caller's output: a timer left running would keep a pipe reading the caller's
# output open until it expired (it did, for up to GUEST_TIMEOUT, when only the subshell was killed).
WATCHDOG_PID=
watchdog_start() {
  (
    exec >/dev/null 2>&1 </dev/null
    sleep "$1" &
    timer=$!
    trap 'kill "$timer" 2>/dev/null; exit 0' TERM
    wait "$timer" && kill -9 "$2"
  ) &
  WATCHDOG_PID=$!
}
watchdog_stop() {
  [ -n "$WATCHDOG_PID" ] || return 0
  kill "$WATCHDOG_PID" 2>/dev/null || true
  wait "$WATCHDOG_PID" 2>/dev/null || true
  WATCHDOG_PID=
}
