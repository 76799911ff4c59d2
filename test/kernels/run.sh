#!/usr/bin/env bash
# make test-kernels: the real-kernel tests under a second kernel, one that has kprobes and fentry.
#
# Fetches Debian 12's kernel package (linux-image-<KERNEL_SERIES>.N-M-amd64-unsigned, the newest apt
# lists) into build/kernels once, builds an initramfs (busybox + test/kernels/init + the 9p/virtio
# modules), and boots it under qemu's software emulation (TCG; KVM is not used). The guest mounts the
# host's root filesystem read-only over 9p, chroots into it and runs the guest script this file writes
# (test files of the suite, and `xtrace probe`), writing into a second, writable 9p share. Then, on the
# host, test/kernels/check.ts asserts the results: every test passed, and the hooks chosen in the guest
# (fentry, then kprobe with fentry turned off) differ from the host's.
#
# Env: KERNEL_SERIES (6.1), GUEST_TIMEOUT (seconds, 3600), GUEST_MEM (MiB, 3072), KERNEL_TESTS (the
# test files run in the guest; three capture tests run besides), KERNEL_TESTS_NOFENTRY (those run again with fentry off), KEEP_RESULTS=1 (keep the guest's output under build/kernels), GUEST_CMD (run this in the guest
# instead, and print its output: for debugging).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/test/kernels/watchdog.sh"
SERIES=${KERNEL_SERIES:-6.1}
TIMEOUT=${GUEST_TIMEOUT:-3600}
MEM=${GUEST_MEM:-3072}
CACHE=$ROOT/build/kernels
TESTS=${KERNEL_TESTS:-dist/test/e2e/xdp.test.js dist/test/e2e/stack.test.js dist/test/e2e/limit.test.js}
NOFENTRY_TESTS=${KERNEL_TESTS_NOFENTRY:-dist/test/e2e/stack.test.js}
# limit with fentry off: the tests that attribute sockets and processes (where kprobe takes fentry's
# place); the rate and pacing tests do not depend on it and take most of the time
NOFENTRY_LIMIT='^egress: a TCP sender|^UDP|--cgroup|--children|process that exits|kprobe/tracepoint|bad input'
# the capture tests that prove the filter splice under this kernel's verifier (the 30-expression one starts
# 37 monitors: too many for a 3 GiB emulated guest)
CAPTURE_PATTERN='XDP and TC: exact count|-p with a filter expression|bad expressions'
mkdir -p "$CACHE"

need() { command -v "$1" >/dev/null || { echo "test-kernels: needs $1 (apt-get install $2)" >&2; exit 4; }; }
need qemu-system-x86_64 qemu-system-x86
need busybox busybox-static
need depmod kmod
need cpio cpio

# The newest package of the series that apt knows, named exactly: a glob would fetch every flavour.
PKG=$(apt-cache search --names-only "^linux-image-${SERIES//./\\.}\.[0-9]+-[0-9]+-amd64-unsigned\$" | cut -d' ' -f1 | sort -V | tail -1)
[ -n "$PKG" ] || { echo "test-kernels: apt knows no linux-image-${SERIES}.*-amd64-unsigned (apt-get update?)" >&2; exit 4; }
K=$CACHE/$PKG
if [ ! -f "$K/ok" ]; then
  echo "test-kernels: fetching $PKG"
  rm -rf "$K" && mkdir -p "$K"
  (cd "$K" && apt-get -o APT::Sandbox::User=root download "$PKG" >/dev/null && dpkg -x ./*.deb root && rm -f ./*.deb)
  KREL=$(ls "$K/root/lib/modules")
  depmod -b "$K/root" "$KREL"
  touch "$K/ok"
fi
KREL=$(ls "$K/root/lib/modules")
MODS=$K/root/lib/modules/$KREL

# initramfs: busybox, /init, and the modules that reach the host's filesystem, in load order
I=$(mktemp -d "$CACHE/initramfs.XXXXXX")
R=$(mktemp -d "$CACHE/results.XXXXXX")
QEMU_PID=
cleanup() {
  watchdog_stop
  [ -n "$QEMU_PID" ] && kill -9 "$QEMU_PID" 2>/dev/null || true
  rm -rf "$I"
  if [ -n "${KEEP_RESULTS:-}" ]; then echo "test-kernels: results kept in $R"; else rm -rf "$R"; fi
}
trap cleanup EXIT
mkdir -p "$I"/{bin,proc,sys,dev,mods,host}
cp "$(command -v busybox)" "$I/bin/busybox"
cp "$ROOT/test/kernels/init" "$I/init"
chmod +x "$I/init"
: > "$I/mods/order"
# each module after what it needs (modules.dep), each once; built-in ones need no loading
declare -A seen=()
add() {
  local rel=$1 d
  [ -n "${seen[$rel]:-}" ] && return
  seen[$rel]=1
  for d in $(sed -n "s|^$rel: *||p" "$MODS/modules.dep"); do add "$d"; done
  cp "$MODS/$rel" "$I/mods/"
  basename "$rel" .ko >> "$I/mods/order"
}
for m in virtio_pci 9pnet_virtio 9p; do
  rel=$(grep -o "^[^:]*/$m\.ko" "$MODS/modules.dep" | head -1)
  if [ -z "$rel" ]; then grep -q "/$m.ko" "$MODS/modules.builtin" && continue; echo "test-kernels: no module $m in $PKG" >&2; exit 4; fi
  add "$rel"
done
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) > "$R/initrd.gz"

# what the guest runs, in the repository (read-only there; scratch in /tmp)
cat > "$R/guest.sh" <<EOF
set -u
cd '$ROOT'
export XTRACE_LOG_FORMAT=text XTRACE_TEST_SLOWDOWN=\${XTRACE_TEST_SLOWDOWN:-8}
echo "kernel \$(uname -r)"; ip -br addr show lo
grep -E ' (ip_rcv_finish|ip_rcv_finish_core|ip_list_rcv_finish|ip_sublist_rcv_finish|ip6_rcv_finish|ip6_rcv_finish_core|ip_rcv|ip_local_deliver|ip6_input|__netif_receive_skb_core|tcp_queue_rcv)(\\.|\$)' /proc/kallsyms
# choices with every hook kind, then with fentry turned off (kprobe's turn)
node dist/src/cli.js probe -o json > /mnt/probe.json 2> /mnt/probe.err; echo \$? > /mnt/probe.rc
XTRACE_DISABLE_HOOKS=fentry node dist/src/cli.js probe -m stack -o json > /mnt/probe-nofentry-stack.json 2>&1
XTRACE_DISABLE_HOOKS=fentry node dist/src/cli.js probe -m limit -o json > /mnt/probe-nofentry-limit.json 2>&1
node --test --test-concurrency=1 --test-timeout=3600000 --test-reporter=tap $TESTS > /mnt/tests.tap 2>&1; echo \$? > /mnt/tests.rc
XTRACE_DISABLE_HOOKS=fentry node --test --test-concurrency=1 --test-timeout=3600000 --test-reporter=tap $NOFENTRY_TESTS > /mnt/tests-nofentry.tap 2>&1; echo \$? > /mnt/tests-nofentry.rc
XTRACE_DISABLE_HOOKS=fentry node --test --test-concurrency=1 --test-timeout=3600000 --test-reporter=tap --test-name-pattern='$NOFENTRY_LIMIT' dist/test/e2e/limit.test.js > /mnt/tests-nofentry-limit.tap 2>&1; echo \$? > /mnt/tests-nofentry-limit.rc
# a real RDMA stack: Soft-RoCE (rdma_rxe) on a veth pair, real verbs traffic (the host has no RDMA)
XTRACE_KROOT=\$(sed -n 's/.*xt_kroot=\([^ ]*\).*/\1/p' /proc/cmdline) node --test --test-concurrency=1 --test-timeout=1800000 --test-reporter=tap dist/test/kernels/rxe.guest.js > /mnt/tests-rxe.tap 2>&1; echo \$? > /mnt/tests-rxe.rc
node --test --test-concurrency=1 --test-timeout=3600000 --test-reporter=tap --test-name-pattern='$CAPTURE_PATTERN' dist/test/e2e/capture.test.js > /mnt/tests-capture.tap 2>&1; echo \$? > /mnt/tests-capture.rc
# the filter translation under this kernel's verifier: the first 12 expressions of the differential test (loops, shifts, division),
# loaded without -w's capture: 6.1's verifier refuses -w with a protochain as too large (README says so)
XTRACE_FILTER_DIFF=12 XTRACE_FILTER_DIFF_CAPTURE=0 node --test --test-timeout=3600000 --test-reporter=tap dist/test/e2e/filter-diff.test.js > /mnt/tests-filter.tap 2>&1; echo \$? > /mnt/tests-filter.rc
EOF

if [ -n "${GUEST_CMD:-}" ]; then  # a command of one's own in the guest (debugging): its output, no checks
  printf 'set -u\ncd %q\n%s\n' "$ROOT" "$GUEST_CMD" > "$R/guest.sh"
fi

echo "test-kernels: booting $KREL under qemu (TCG, ${MEM} MiB, timeout ${TIMEOUT} s): $TESTS, then stack and limit with fentry off, capture, the filter translation, Soft-RoCE"
START=$(date +%s)
qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m "$MEM" -no-reboot \
  -kernel "$K/root/boot/vmlinuz-$KREL" -initrd "$R/initrd.gz" \
  -append "console=ttyS0 panic=-1 loglevel=4 xt_kroot=$K/root xt_repo=$ROOT" \
  -virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$R,mount_tag=results,security_model=none" \
  -serial "file:$R/console.log" -monitor none -display none &
QEMU_PID=$!
watchdog_start "$TIMEOUT" "$QEMU_PID"
wait "$QEMU_PID" || true
QEMU_PID=
watchdog_stop
ELAPSED=$(( $(date +%s) - START ))
if [ ! -f "$R/rc" ]; then
  echo "test-kernels: the guest did not finish in ${TIMEOUT} s (or crashed); console tail:" >&2
  tail -40 "$R/console.log" >&2
  [ -f "$R/out.log" ] && { echo "--- guest output tail:" >&2; tail -20 "$R/out.log" >&2; }
  exit 1
fi
echo "test-kernels: guest finished in ${ELAPSED} s"
if [ -n "${GUEST_CMD:-}" ]; then cat "$R/out.log"; exit "$(cat "$R/rc")"; fi
node "$ROOT/dist/test/kernels/check.js" "$R" "$KREL"
