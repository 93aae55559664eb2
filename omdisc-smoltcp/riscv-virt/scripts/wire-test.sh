#!/bin/bash
# Proves the boot image on a real Ethernet segment, inside network namespaces
# this script creates (never the machine's own interfaces):
#
#   [ns IMG: QEMU -- tap0 ]--br0--[ veth0 ]===[ veth1 10.77.1.10 : ns PEER ]
#
# QEMU boots IMAGE on tap0 with ip=10.77.1.60/24; a Linux peer (python3,
# multicast-peer.py) in the other namespace joins the group, sends a few
# pings and records what arrives. Passes when the peer hears the image's
# hello and its echo of a ping, the image's console shows the ping, and the
# bridge learned the image's IGMP membership on tap0. Prints boot-to-first-
# hello (QEMU start to first hello at the peer) and QEMU's idle CPU use.
# Everything it starts is stopped by PID and both namespaces are deleted on
# every exit path (trap on EXIT; INT/TERM exit through it).
#
# Usage: wire-test.sh IMAGE [SECONDS]   (SECONDS: peer run time, default 8)
set -euo pipefail

image=$(readlink -f "${1:?usage: wire-test.sh IMAGE [SECONDS]}")
duration=${2:-8}
here=$(dirname "$(readlink -f "$0")")
group=239.255.77.77
port=7477
image_ip=10.77.1.60
peer_ip=10.77.1.10

ns_img=omdisc-img-$$
ns_peer=omdisc-peer-$$
work=$(mktemp -d /tmp/omdisc-wire.XXXXXX)
qemu_pid=
peer_pid=

cleanup() {
    set +e
    for pid in $qemu_pid $peer_pid; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    ip netns del "$ns_img" 2>/dev/null
    ip netns del "$ns_peer" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -f "$image" ] || { echo "wire-test: no image at $image" >&2; exit 2; }
command -v qemu-system-riscv64 >/dev/null ||
    { echo "wire-test: qemu-system-riscv64 missing (apt-get install qemu-system-misc)" >&2; exit 2; }

ip netns add "$ns_img"
ip netns add "$ns_peer"
ip -n "$ns_img" link add br0 type bridge
ip -n "$ns_img" tuntap add dev tap0 mode tap
ip -n "$ns_img" link add veth0 type veth peer name veth1 netns "$ns_peer"
ip -n "$ns_img" link set tap0 master br0
ip -n "$ns_img" link set veth0 master br0
for dev in lo br0 tap0 veth0; do ip -n "$ns_img" link set "$dev" up; done
ip -n "$ns_peer" addr add "$peer_ip/24" dev veth1
ip -n "$ns_peer" link set lo up
ip -n "$ns_peer" link set veth1 up

ip netns exec "$ns_peer" python3 "$here/multicast-peer.py" --group "$group" --port "$port" \
    --local-ip "$peer_ip" --count 5 --spacing 0.5 --first-send-after 1.5 \
    --duration "$duration" >"$work/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 50); do grep -q "peer ready" "$work/peer.log" && break; sleep 0.1; done

launched=$(date +%s.%N)
ip netns exec "$ns_img" qemu-system-riscv64 -machine virt -bios default -display none \
    -monitor none -serial "file:$work/console.log" -kernel "$image" \
    -append "ip=$image_ip/24 group=$group port=$port interval=1" \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
    -device virtio-net-device,netdev=n0 </dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!

wait "$peer_pid" || true
peer_pid=
mdb=$(bridge -n "$ns_img" mdb show dev br0 2>/dev/null || true)

# Idle CPU of the QEMU process over 2 s (utime + stime, in clock ticks).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$qemu_pid/stat"; }
hz=$(getconf CLK_TCK)
before=$(cpu_ticks); sleep 2; after=$(cpu_ticks)
idle_cpu=$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.1f", 100 * t / hz / 2 }')

echo "--- image console"; cat "$work/console.log" | grep -v "^$" | sed -n '/omdisc/,$p'
echo "--- peer"; cat "$work/peer.log"
echo "--- bridge mdb"; echo "${mdb:-<empty>}"

failed=0
check() { if eval "$2"; then echo "ok:   $1"; else echo "FAIL: $1"; failed=1; fi; }
check "peer heard the image's hello" "grep -q '$image_ip:$port hello' '$work/peer.log'"
check "peer got the image's echo of a ping" "grep -q '$image_ip:$port echo: ping' '$work/peer.log'"
check "image console shows a ping" "grep -q 'from $peer_ip:$port: ping' '$work/console.log'"
check "bridge learned the group on tap0 (IGMP report)" "grep -q 'port tap0 grp $group' <<<\"\$mdb\""

first=$(awk -v ip="$image_ip:$port" '$2 == ip && $3 == "hello" { print $1; exit }' "$work/peer.log")
if [ -n "$first" ]; then
    awk -v a="$launched" -v b="$first" 'BEGIN { printf "boot-to-first-hello (QEMU start to peer receipt): %.0f ms\n", (b - a) * 1000 }'
fi
grep -o "first hello sent [0-9]* ms after machine reset" "$work/console.log" || true
echo "QEMU idle CPU (2 s, after the peer stopped): $idle_cpu %"
exit "$failed"
