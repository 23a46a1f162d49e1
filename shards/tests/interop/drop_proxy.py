#!/usr/bin/env python3
"""A TCP proxy that drops connections at random moments: after forwarding a client's request to
the broker, before the response comes back. For the idempotent-producer tests.

  drop_proxy.py --listen PORT --upstream HOST:PORT --drop-probability P [--seed N] [--off FILE]
Dropping stops while FILE exists. Prints the number of drops to stderr on exit (SIGTERM).
"""
import argparse
import os
import random
import signal
import socket
import sys
import threading

drops = 0


def pump(src, dst, drop, rng, off):
    global drops
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            if drop and not os.path.exists(off) and rng.random() < drop:
                drops += 1
                break
    except OSError:
        pass
    for s in (src, dst):
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
        threading.Thread(target=pump, args=(c, u, a.drop_probability, rng, a.off), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, 0.0, rng, a.off), daemon=True).start()


if __name__ == "__main__":
    main()
