#!/bin/bash
# run.sh BIN LABEL: listen --headless --forward to an app that never answers, under 20 s of load; peak RSS
cd "$(dirname "$0")"
BIN=$1; LABEL=$2
python3 app.py 47111 & APP=$!
sleep 0.5
rm -f ${TMPDIR:-/tmp}/slow_forward_j.jsonl
$BIN listen --headless --addr 127.0.0.1:47112 --out ${TMPDIR:-/tmp}/slow_forward_j.jsonl --forward http://127.0.0.1:47111 --forward-timeout 120s > /dev/null 2>${TMPDIR:-/tmp}/slow_forward_err.txt & H=$!
sleep 1
python3 load.py 47112 16 20 > ${TMPDIR:-/tmp}/slow_forward_load.txt &
L=$!
peak=0
while kill -0 $L 2>/dev/null; do r=$(awk '/VmRSS/{print $2}' /proc/$H/status); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.5; done
lines=$(wc -l < ${TMPDIR:-/tmp}/slow_forward_j.jsonl)
echo "$LABEL: $(cat ${TMPDIR:-/tmp}/slow_forward_load.txt), journal $lines lines, peak RSS $((peak/1024)) MiB, at end $(( $(awk '/VmRSS/{print $2}' /proc/$H/status) / 1024 )) MiB"
kill -INT $H; sleep 3; kill -9 $H 2>/dev/null; kill $APP; wait 2>/dev/null
tail -3 ${TMPDIR:-/tmp}/slow_forward_err.txt
