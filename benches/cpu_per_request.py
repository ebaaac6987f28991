"""CPU time per request of running servers: utime+stime from /proc divided by requests served.

    python3 benches/cpu_per_request.py NAME:PID:PORT [NAME:PID:PORT ...]

Each server gets the same load (4 keep-alive connections, 4 s, 1 KB JSON POSTs) in turn. Unlike
requests/s on a shared 2-core machine, this does not depend on how the cores are shared with the
load client. See BENCHMARKS.md for how to start the servers.
"""
import os
import socket
import sys
import threading
import time

BODY = b'{"type":"engine.error","created":1763830032,"x":"' + b"x" * 980 + b'"}'
REQUEST = (b"POST /hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
           % len(BODY)) + BODY


def ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def load(port, seconds, connections=4):
    counts = []

    def worker():
        sock = socket.create_connection(("127.0.0.1", port))
        end, sent = time.time() + seconds, 0
        while time.time() < end:
            sock.sendall(REQUEST)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                answer += sock.recv(4096)
            sent += 1
        counts.append(sent)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


if __name__ == "__main__":
    hz = os.sysconf("SC_CLK_TCK")
    for spec in sys.argv[1:]:
        name, pid, port = spec.split(":")
        before = ticks(int(pid))
        served = load(int(port), 4)
        used = (ticks(int(pid)) - before) / hz
        print(f"{name}: {served} requests, {used * 1e6 / served:.1f} µs CPU per request")
