#!/usr/bin/env python3
"""Groups a `perf record -g -p PID` profile of a server into the categories of BENCHMARKS.md
(#17's "where every microsecond goes") and scales them to microseconds per request.

Usage: perf_categories.py PERF_DATA MICROSECONDS_PER_REQUEST

Kernel time is split by the system call it runs under (from the call graphs); user time by
symbol, grouped by name. A `printer` thread's time is counted as one line. Needs `perf`.
"""
import re
import subprocess
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
data = sys.argv[1]
per = float(sys.argv[2])
out=subprocess.run(["perf","report","-i",data,"--no-children","--sort","comm,dso,sym","--stdio","-g","none"],capture_output=True,text=True).stdout
kids=subprocess.run(["perf","report","-i",data,"--children","--sort","sym","--stdio","-g","none"],capture_output=True,text=True).stdout
def child(name):
    for l in kids.splitlines():
        m=re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[.\]\s+(.*)$",l)
        if m and m.group(3).strip()==name: return float(m.group(1))
    return 0.0
rows=[]
for l in out.splitlines():
    m=re.match(r"\s+([\d.]+)%\s+(\S+)\s+(\S+)\s+\[(.)\]\s+(.*)$",l)
    if m: rows.append((float(m.group(1)),m.group(2),m.group(3),m.group(4),m.group(5).strip()))
cats={}
def add(c,p): cats[c]=cats.get(c,0)+p
for p,comm,dso,kind,sym in rows:
    if comm=="printer": add("printer thread (all of it)",p); continue
    if kind=="k": add("kernel (all syscalls, softirq, faults, scheduling)",p); continue
    if re.search(r"codec::|encode_capture",sym): add("journal line encoding (codec)",p)
    elif re.search(r"provider::|verify::|analysis::|Catalog|facts|content_type|stringify",sym): add("analysis (provider, event facts, signature)",p)
    elif re.search(r"tap::|Tap<|Serving|Heads",sym): add("header tap (raw head, headers in order)",p)
    elif re.search(r"journal::|hub::|broadcast",sym): add("journal group commit, hub, broadcast",p)
    elif re.search(r"^_?mi_|mi_|malloc|free|__rust_alloc|__rust_dealloc|realloc",sym): add("allocator",p)
    elif re.search(r"memmove|memcpy|memset|memcmp",sym): add("memcpy/memmove",p)
    elif re.search(r"hyper::|httparse|h1::",sym): add("hyper + httparse",p)
    elif re.search(r"tokio::|mio::|parking|futex|epoll",sym): add("tokio runtime",p)
    elif re.search(r"hookscope::server",sym): add("hookscope server (request handling)",p)
    else: add("other user space",p)
tot=sum(cats.values())
for c,p in sorted(cats.items(),key=lambda x:-x[1]): print(f"{c:55s} {p:6.2f}%  {p/tot*per:5.2f} µs")
print("kernel split (children %, of all samples):")
for name in ["__GI___writev","__GI___libc_write","__libc_recv","epoll_wait","syscall","__GI___futex_abstimed_wait_cancelable64","sched_yield"]:
    c=child(name); print(f"  {name:40s} {c:6.2f}%  {c/100*per:5.2f} µs")
