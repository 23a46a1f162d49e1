#!/usr/bin/env python3
"""Records the request frames real Kafka clients send, for the mutated-frames test's seed corpus
(shards/tests/corpus/). A proxy in front of a running broker writes each client-to-broker frame
to OUT/<n>-<api>-v<version>.bin while kcat (librdkafka), confluent-kafka and kafka-python
produce, consume, join a group, commit and administer topics through it.

  capture_frames.py --broker HOST:PORT --proxy-port P --out DIR [--per-api 6]

The broker must advertise the proxy (`strata serve --advertise 127.0.0.1:P`), or clients would
leave the proxy after their first Metadata.

Keeps at most --per-api frames of each (api, version), the first ones seen.
"""
import argparse
import os
import socket
import subprocess
import sys
import threading
import time

from drop_proxy import pump_responses


class CaptureProxy:
    def __init__(self, upstream, out, per_api, port):
        self.upstream = upstream
        self.out = out
        self.per_api = per_api
        self.kept = {}
        self.n = 0
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            host, port = self.upstream.rsplit(":", 1)
            server = socket.create_connection((host, int(port)))
            threading.Thread(target=self.requests, args=(client, server), daemon=True).start()
            threading.Thread(target=pump_responses, args=(server, client), daemon=True).start()

    def keep(self, frame):
        if len(frame) < 4:
            return
        api = int.from_bytes(frame[0:2], "big")
        version = int.from_bytes(frame[2:4], "big")
        with self.lock:
            count = self.kept.get((api, version), 0)
            if count >= self.per_api:
                return
            self.kept[(api, version)] = count + 1
            self.n += 1
            name = os.path.join(self.out, f"{self.n:04d}-api{api}-v{version}.bin")
        with open(name, "wb") as f:
            f.write(frame)

    def requests(self, client, server):
        buf = b""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                server.sendall(data)
                buf += data
                while len(buf) >= 4:
                    size = int.from_bytes(buf[:4], "big")
                    if len(buf) < 4 + size:
                        break
                    self.keep(buf[4:4 + size])
                    buf = buf[4 + size:]
        except OSError:
            pass
        finally:
            server.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-api", type=int, default=6)
    ap.add_argument("--proxy-port", type=int, required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    proxy = CaptureProxy(a.broker, a.out, a.per_api, a.proxy_port)
    b = f"127.0.0.1:{proxy.port}"
    here = os.path.dirname(os.path.abspath(__file__))
    py = sys.executable
    run = lambda args: subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      timeout=120)
    # librdkafka through kcat: produce (two codecs), consume, list metadata.
    run(["sh", "-c", f"seq 1 2000 | kcat -b {b} -P -t corpus-kcat -p 0 -z snappy"])
    run(["sh", "-c", f"seq 1 2000 | kcat -b {b} -P -t corpus-kcat -p 0 -X enable.idempotence=true"])
    run(["kcat", "-b", b, "-C", "-t", "corpus-kcat", "-e", "-o", "beginning"])
    run(["kcat", "-b", b, "-L"])
    # confluent-kafka and kafka-python: produce and consume, admin calls.
    for client in ("confluent", "kafka-python"):
        run([py, os.path.join(here, "roundtrip.py"), "--client", client, "--bootstrap", b,
             "--topic", f"corpus-{client}", "--partitions", "3", "--records", "3000", "--compression", "gzip"])
    run([py, os.path.join(here, "admin.py"), "--bootstrap", b])
    # A consumer group: join, sync, heartbeat, commit, fetch offsets, leave.
    stop = os.path.join(a.out, ".stop")
    out = os.path.join(a.out, ".group-out")
    for client in ("confluent", "kafka-python"):
        member = subprocess.Popen([py, os.path.join(here, "group_consumer.py"), "--client", client,
                                   "--bootstrap", b, "--topic", "corpus-kcat", "--group", f"corpus-{client}",
                                   "--out", out, "--stop", stop], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(8)
        open(stop, "w").close()
        member.wait(timeout=60)
        os.remove(stop)
    os.remove(out)
    print(f"kept {proxy.n} frames of {len(proxy.kept)} (api, version) pairs in {a.out}")


if __name__ == "__main__":
    main()
