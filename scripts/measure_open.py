#!/usr/bin/env python3
"""`hookscope open JOURNAL` measured as a user runs it: the real binary in a pseudo-terminal.

For each run: the time from starting the process until the screen shows the list with the
journal's capture count in its title (`Captures 1/1000000`), the CPU time it had used by then
(/proc/PID/stat: steadier than the wall time on a shared machine), and its peak resident memory,
read from /proc/PID/status (VmHWM) at that moment and again from the kernel's rusage (ru_maxrss)
once it has quit on `q`.

    cargo build --release
    cargo bench --bench tui_scale          # writes target/tmp/tui-scale-1000000.jsonl once
    python3 scripts/measure_open.py target/tmp/tui-scale-1000000.jsonl --runs 5
    python3 scripts/measure_open.py JOURNAL --cold   # the journal's pages dropped first

The terminal is 200x50 (`--size COLSxROWS`) and answers a cursor-position query as a terminal
would. `--cold` asks the kernel to drop this file's cached pages (posix_fadvise DONTNEED; the
rest of the page cache is left alone) before each run, as after a reboot; without it the
journal is read from memory, as right after writing it.
"""

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import sys
import termios
import time

# Escape sequences removed before looking for the title: SGR and cursor moves (CSI), OSC.
ESCAPES = re.compile(rb"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-B]|\x1b[=>78]")


def count_lines(path):
    """The journal's records: one per line."""
    lines = 0
    with open(path, "rb") as journal:
        while chunk := journal.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines


def status_kib(pid, field):
    """A `/proc/PID/status` field in KiB, or 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """User + system CPU time the process has used so far, from `/proc/PID/stat`."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command's name: state is field 3 of stat(5), utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drop_cached_pages(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def run_once(binary, journal, expect, cols, rows, timeout):
    """One `open`: (seconds to the counted list, CPU seconds used by then, VmHWM KiB then,
    ru_maxrss KiB at exit)."""
    title = re.compile(rb"Captures (?:\d+/)?%d\b" % expect)
    started = time.monotonic()
    pid, master = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.environ.setdefault("TERM", "xterm-256color")
        os.execv(binary, [binary, "open", journal])
    screen = b""
    shown_at = None
    hwm_then = 0
    cpu_then = 0.0
    try:
        while shown_at is None:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"no `Captures ...{expect}` on screen after {timeout} s")
            ready, _, _ = select.select([master], [], [], 0.01)
            if not ready:
                continue
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:
                raise RuntimeError("hookscope exited before showing the list:\n" + screen[-2000:].decode(errors="replace"))
            if not chunk:
                raise RuntimeError("hookscope closed its terminal before showing the list")
            if b"\x1b[6n" in chunk:  # where is the cursor? as a terminal answers
                os.write(master, b"\x1b[1;1R")
            # Keep enough to hold a frame; the title is matched on the text without escapes.
            screen = (screen + chunk)[-(1 << 20):]
            if title.search(ESCAPES.sub(b"", screen)):
                shown_at = time.monotonic() - started
                hwm_then = status_kib(pid, "VmHWM:")
                cpu_then = cpu_seconds(pid)
        os.write(master, b"q")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                return shown_at, cpu_then, hwm_then, usage.ru_maxrss
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    os.read(master, 1 << 16)
                except OSError:
                    pass
        raise TimeoutError("hookscope did not quit on `q`")
    except BaseException:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        raise
    finally:
        os.close(master)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journal")
    parser.add_argument("--bin", default="target/release/hookscope")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", default="200x50", help="terminal COLSxROWS")
    parser.add_argument("--expect", type=int, help="the capture count to wait for (default: the journal's lines)")
    parser.add_argument("--cold", action="store_true", help="drop the journal's cached pages before each run")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.split("x"))
    expect = args.expect if args.expect is not None else count_lines(args.journal)
    size = os.path.getsize(args.journal)
    print(f"{args.bin} open {args.journal}: {expect:,} captures, {size / (1 << 20):,.0f} MiB, "
          f"terminal {cols}x{rows}, page cache {'dropped' if args.cold else 'warm'}")
    times, cpus, peaks = [], [], []
    for run in range(1, args.runs + 1):
        if args.cold:
            drop_cached_pages(args.journal)
        with open("/proc/loadavg") as load:
            loadavg = load.read().split()[0]
        shown, cpu, hwm, maxrss = run_once(args.bin, args.journal, expect, cols, rows, args.timeout)
        times.append(shown)
        cpus.append(cpu)
        peaks.append(maxrss)
        print(f"run {run}: list with {expect:,} captures on screen after {shown:.2f} s "
              f"({cpu:.2f} s of CPU by then); "
              f"peak resident {hwm / 1024:.0f} MiB then, {maxrss / 1024:.0f} MiB at exit "
              f"(load average {loadavg} before the run)")
    print(f"median of {len(times)}: {statistics.median(times):.2f} s (range {min(times):.2f}-{max(times):.2f} s), "
          f"CPU {statistics.median(cpus):.2f} s (range {min(cpus):.2f}-{max(cpus):.2f} s), "
          f"peak resident {statistics.median(peaks) / 1024:.0f} MiB "
          f"(range {min(peaks) / 1024:.0f}-{max(peaks) / 1024:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
