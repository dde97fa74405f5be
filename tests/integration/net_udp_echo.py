#!/usr/bin/env python3
"""UDP echo check for tests/integration/net.sh: sends COUNT datagrams of mixed
sizes to HOST:PORT with a bounded window, checks that every one comes back
byte for byte, resends a datagram only after a timeout.  Bounded in count and
time.  Prints one summary line; exit 0 when all came back intact."""
import os
import random
import socket
import struct
import sys
import time


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    rnd = random.Random(8)
    sizes = [rnd.choice((1, 18, 64, 200, 512, 1000, 1400, 1472)) if i % 3 else rnd.randint(8, 1472)
             for i in range(count)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.settimeout(0.5)
    payload = {}
    sent_at = {}
    pending = set()
    nxt = done = resent = bad = 0
    nbytes = 0
    window = 32
    t0 = time.monotonic()

    def send(i):
        s.sendto(payload[i], (host, port))
        sent_at[i] = time.monotonic()

    while done < count:
        if time.monotonic() - t0 > limit:
            print(f"udp-echo: timeout after {done}/{count} datagrams, {resent} resent, {bad} bad")
            return 1
        while nxt < count and len(pending) < window:
            body = os.urandom(sizes[nxt])
            payload[nxt] = (struct.pack("!I", nxt) + body)[:max(sizes[nxt], 4)]
            pending.add(nxt)
            send(nxt)
            nxt += 1
        try:
            data = s.recv(4096)
        except socket.timeout:
            now = time.monotonic()
            for i in list(pending):
                if now - sent_at[i] > 0.5:
                    resent += 1
                    send(i)
            continue
        if len(data) < 4:
            bad += 1
            continue
        i = struct.unpack("!I", data[:4])[0]
        if i not in pending:
            continue  # a late duplicate of a resent one
        if data != payload[i]:
            bad += 1
            print(f"udp-echo: datagram {i} came back different ({len(data)} vs {len(payload[i])} bytes)")
            return 1
        pending.discard(i)
        nbytes += len(data)
        done += 1
    secs = time.monotonic() - t0
    print(f"udp-echo: {done}/{count} datagrams intact, {nbytes} bytes, {resent} resent, {secs:.1f} s")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
