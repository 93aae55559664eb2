#!/bin/sh
# Boots IMAGE under QEMU's RISC-V `virt` machine with a virtio-net device that
# has no backend (frames go nowhere): the `cargo run` runner, for watching the
# console. Extra arguments become the kernel command line.
# Usage: qemu-console.sh IMAGE [ip=A.B.C.D/P group=... port=... interval=...]
set -eu
image=$1
shift
exec qemu-system-riscv64 -machine virt -bios none -nographic -nic none \
    -device virtio-net-device -kernel "$image" -append "${*:-}"
