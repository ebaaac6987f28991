#!/usr/bin/env python3
"""The latency the relay adds, measured per request: each request sent both ways, interleaved.

    cargo build --release
    python3 scripts/relay_latency.py                      # 2,500 pairs at 500 pairs/s
    python3 scripts/relay_latency.py --pairs 5000 --rate 250
    python3 scripts/relay_latency.py --scratch /dev/shm   # the relay's queue on tmpfs: no disk

Starts, from the release binary, `hookscope relay`, a `listen --relay ... --forward APP` client
of it and a direct `listen --forward APP`, plus a local app (this script re-run with `--app`, in
its own process). Then, for each pair k, it sends one 1 KiB request straight to the direct
`listen` and one to the relay, half a period apart, the order alternating from pair to pair
(so neither path always goes first), from 16 keep-alive connections per path. The app notes
when each request reaches it (CLOCK_MONOTONIC, the same clock in every process), so a request's
latency is from the moment it was written to the moment the app had its whole body. The added
latency of pair k is relay latency(k) - direct latency(k): two requests sent a moment apart, under
the same load. Its percentiles are the figure; the difference of the two paths' own percentiles
is printed beside them for comparison with older reports.

Everything runs on this machine: the sender and the app are Python (their own delays land on
both paths alike), the relay fsyncs each batch before its 202, the clients journal without
--fsync. The first --warmup pairs are not counted (connections opened, pools filled). Since the
relay's path waits on fdatasync and the direct one does not, the script first times 200 1 KiB
appends with fdatasync in the relay's directory and prints them: what the disk charged that hour.
"""

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

BODY = random.Random(3).randbytes(1024)


def percentile(sorted_values, p):
    """The same rank as the Rust bench's: sorted[len * p / 100]."""
    return sorted_values[min(len(sorted_values) * p // 100, len(sorted_values) - 1)]


async def read_message(reader):
    """One HTTP/1.1 message: (head lines, body). Content-Length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:  # no trailers: the last chunk is `0\r\n\r\n`
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                return lines, headers, body
    length = int(headers.get("content-length", "0"))
    return lines, headers, await reader.readexactly(length)


# The local app ------------------------------------------------------------------------------

def run_app():
    arrived = {}

    async def serve(reader, writer):
        try:
            while True:
                lines, headers, _ = await read_message(reader)
                at = time.monotonic_ns()
                if lines[0].startswith("GET /times"):
                    body = json.dumps(arrived).encode()
                else:
                    if "x-seq" in headers:
                        arrived.setdefault(headers["x-seq"], at)
                    body = b'{"received":true}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


# The processes under test -------------------------------------------------------------------

class Process:
    """A child whose stderr is kept (and drained, so it never blocks on a full pipe)."""

    def __init__(self, args, stdout=subprocess.DEVNULL):
        self.child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout,
                                      stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.child.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if found := re.search(pattern, line):
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or self.child.poll() is not None:
                    raise RuntimeError(f"no {pattern!r} from {self.child.args[:2]}: {self.lines[-10:]}")
                self.changed.wait(left)

    def address(self):
        return self.wait_for(r"listening on \w+://([0-9.]+:[0-9]+)").group(1)

    def stop(self):
        self.child.terminate()
        try:
            self.child.wait(10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


# The sender ---------------------------------------------------------------------------------

class Entry:
    """Keep-alive connections to one entry point; each request's send time by number."""

    def __init__(self, name, address, prefix):
        self.name, self.address, self.prefix = name, address, prefix
        self.pool = asyncio.Queue()
        self.sent = {}

    async def connect(self, count):
        host, port = self.address.rsplit(":", 1)
        for _ in range(count):
            self.pool.put_nowait(await asyncio.open_connection(host, int(port)))

    async def send(self, n):
        reader, writer = await self.pool.get()
        request = (f"POST {self.prefix}/bench/{n} HTTP/1.1\r\nHost: {self.address}\r\n"
                   f"Content-Type: application/octet-stream\r\nX-Seq: {n}\r\n"
                   f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY
        self.sent[n] = time.monotonic_ns()
        writer.write(request)
        lines, _, _ = await read_message(reader)
        status = int(lines[0].split()[1])
        if not 200 <= status < 300:
            raise RuntimeError(f"{self.name}: request {n} answered {lines[0]}")
        self.pool.put_nowait((reader, writer))


async def paced(direct, relay, first, pairs, rate):
    """Pairs `first..first+pairs`: direct gets 2k, the relay 2k+1, half a period apart."""
    started = time.monotonic()
    tasks = []
    for k in range(first, first + pairs):
        order = [(direct, 2 * k), (relay, 2 * k + 1)]
        if k % 2:
            order.reverse()
        for half, (path, n) in enumerate(order):
            due = started + (k - first + half / 2) / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(path.send(n)))
    await asyncio.gather(*tasks)


async def fetch_times(app):
    reader, writer = await asyncio.open_connection("127.0.0.1", app)
    writer.write(b"GET /times HTTP/1.1\r\nHost: app\r\n\r\n")
    _, _, body = await read_message(reader)
    writer.close()
    return {int(n): at for n, at in json.loads(body).items()}


async def measure(args, direct_address, relay_address, app):
    direct = Entry("direct", direct_address, "")
    relay = Entry("relay", relay_address, "/c/bench")
    await direct.connect(args.connections)
    await relay.connect(args.connections)
    await paced(direct, relay, 0, args.warmup, args.rate)
    first = args.warmup
    await paced(direct, relay, first, args.pairs, args.rate)
    expected = 2 * (first + args.pairs)
    deadline = time.monotonic() + 60
    while len(arrived := await fetch_times(app)) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the app got {len(arrived)} of {expected} requests")
        await asyncio.sleep(0.2)
    pairs = []
    for k in range(first, first + args.pairs):
        d, r = 2 * k, 2 * k + 1
        pairs.append(((arrived[d] - direct.sent[d]) / 1000, (arrived[r] - relay.sent[r]) / 1000))
    return pairs


def fsync_probe(directory, count=200):
    """What the relay's disk charges now: 1 KiB appends, each followed by fdatasync, 5 ms apart."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    took = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, b"x" * 1024)
            os.fdatasync(fd)
            took.append((time.perf_counter() - started) * 1e6)
            time.sleep(0.005)
    finally:
        os.close(fd)
        os.unlink(path)
    return sorted(took)


def micros(value):
    return f"{value / 1000:.2f} ms" if abs(value) >= 1000 else f"{value:.0f} µs"


def report(pairs, args, fsyncs):
    direct = sorted(d for d, _ in pairs)
    relay = sorted(r for _, r in pairs)
    added = sorted(r - d for d, r in pairs)
    ranks = (50, 90, 99)
    show = lambda values: ", ".join(f"p{p} {micros(percentile(values, p))}" for p in ranks) + f", max {micros(values[-1])}"
    print(f"{len(pairs)} pairs at {args.rate}/s (each path {args.rate} requests/s), 1 KiB bodies, "
          f"{args.connections} connections a path, {args.warmup} pairs of warm-up not counted")
    print(f"the disk now, 1 KiB append + fdatasync: {show(fsyncs)} ({len(fsyncs)} before the run)")
    print(f"latency to the app, direct:           {show(direct)}")
    print(f"latency to the app, relay + tunnel:   {show(relay)}")
    print(f"added by the relay, per request:      {show(added)}")
    print(f"  (relay faster than its direct twin in {sum(a < 0 for a in added)} of {len(added)} pairs)")
    print("difference of the two paths' percentiles (older reports' figure): "
          + ", ".join(f"p{p} {micros(percentile(relay, p) - percentile(direct, p))}" for p in ranks))


def main():
    if "--app" in sys.argv:
        return run_app()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="target/release/hookscope")
    parser.add_argument("--pairs", type=int, default=2500)
    parser.add_argument("--rate", type=float, default=500, help="pairs a second (each path gets this rate)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scratch", help="where the relay's data directory and the journals go (default: the "
                        "system's temporary directory; /dev/shm takes the disk out)")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        data = os.path.join(scratch, "relay")
        token = subprocess.run([binary, "relay", "token", "create", "--channel", "bench", "--data-dir", data],
                               check=True, capture_output=True, text=True).stdout.strip()
        app = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--app"], stdout=subprocess.PIPE, text=True)
        started = []
        try:
            app_port = int(app.stdout.readline())
            app_url = f"http://127.0.0.1:{app_port}"
            relay = Process([binary, "relay", "--addr", "127.0.0.1:0", "--data-dir", data])
            started.append(relay)
            relay_address = relay.address()
            direct = Process([binary, "listen", "--addr", "127.0.0.1:0", "--out", os.path.join(scratch, "direct.jsonl"),
                              "--headless", "--forward", app_url])
            started.append(direct)
            client = Process([binary, "listen", "--addr", "127.0.0.1:0", "--out", os.path.join(scratch, "client.jsonl"),
                              "--headless", "--relay", f"http://{relay_address}", "--channel", "bench",
                              "--token", token, "--forward", app_url])
            started.append(client)
            direct_address = direct.address()
            client.wait_for("relay: connected")
            fsyncs = fsync_probe(scratch)
            pairs = asyncio.run(measure(args, direct_address, relay_address, app_port))
        finally:
            for process in reversed(started):
                process.stop()
            app.terminate()
            app.wait()
    report(pairs, args, fsyncs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
