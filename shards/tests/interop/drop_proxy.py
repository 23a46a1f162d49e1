#!/usr/bin/env python3
"""A TCP proxy that drops connections at random moments: after forwarding a client's whole
request to the broker, before the response comes back. For the idempotent-producer tests.

  drop_proxy.py --listen PORT --upstream HOST:PORT --drop-probability P [--seed N] [--off FILE]
Each request (a Kafka frame: 4-byte size, then the body) is followed by a drop with probability
P, so P is the share of requests whose response is lost whatever their size. Dropping stops while
FILE exists. Prints the number of drops to stderr on exit (SIGTERM).
"""
import argparse
import os
import random
import signal
import socket
import struct
import sys
import threading

drops = 0


def read_exact(sock, n):
    """n bytes from sock, or None at end of stream."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def pump_requests(src, dst, drop, rng, off):
    """Forwards whole request frames; after each, drops the connection with probability drop."""
    global drops
    try:
        while True:
            head = read_exact(src, 4)
            body = head and read_exact(src, struct.unpack(">i", head)[0])
            if body is None:
                break
            dst.sendall(head + body)
            if drop and not os.path.exists(off) and rng.random() < drop:
                drops += 1
                break
    except OSError:
        pass
    close(src, dst)


def pump_responses(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    close(src, dst)


def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--drop-probability", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--off", default="/nonexistent")
    a = ap.parse_args()
    host, port = a.upstream.rsplit(":", 1)
    rng = random.Random(a.seed)
    signal.signal(signal.SIGTERM, lambda *_: (print(f"drops {drops}", file=sys.stderr, flush=True), os._exit(0)))
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.listen))
    srv.listen(64)
    print("ready", flush=True)
    while True:
        c, _ = srv.accept()
        try:
            u = socket.create_connection((host, int(port)))
        except OSError:
            c.close()
            continue
        # Requests may be dropped after they reach the broker; responses pass whole.
        threading.Thread(target=pump_requests, args=(c, u, a.drop_probability, rng, a.off), daemon=True).start()
        threading.Thread(target=pump_responses, args=(u, c), daemon=True).start()


if __name__ == "__main__":
    main()
