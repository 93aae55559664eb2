#!/usr/bin/env python3
"""Linux peer for the boot image's wire test: joins GROUP on the interface
with address LOCAL_IP, multicasts COUNT numbered pings (one every SPACING
seconds) to GROUP:PORT, and prints every datagram it receives, one line each:
`<unix time> <source ip>:<port> <payload>`. Stops after DURATION seconds.
Every send is bounded by COUNT and DURATION."""
import argparse
import socket
import struct
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--group", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--local-ip", required=True)
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--spacing", type=float, default=0.5)
    p.add_argument("--first-send-after", type=float, default=0.0)
    p.add_argument("--duration", type=float, default=10.0)
    a = p.parse_args()
    if a.count > 1000 or a.duration > 600:
        print("multicast-peer: count <= 1000 and duration <= 600 s", file=sys.stderr)
        return 2

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", a.port))
    mreq = struct.pack("4s4s", socket.inet_aton(a.group), socket.inet_aton(a.local_ip))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.local_ip))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)

    start = time.monotonic()
    end = start + a.duration
    next_send = start + a.first_send_after
    sent = 0
    print(f"{time.time():.6f} peer ready", flush=True)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if sent < a.count and now >= next_send:
            s.sendto(f"ping {sent} from {a.local_ip}".encode(), (a.group, a.port))
            sent += 1
            next_send = now + a.spacing
        wait = end - now
        if sent < a.count:
            wait = min(wait, max(next_send - now, 0.0))
        s.settimeout(max(wait, 0.001))
        try:
            data, (host, port) = s.recvfrom(2048)
        except socket.timeout:
            continue
        print(f"{time.time():.6f} {host}:{port} {data.decode(errors='replace')}", flush=True)
    print(f"{time.time():.6f} peer done, sent {sent}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
