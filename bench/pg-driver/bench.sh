#!/usr/bin/env bash
# Usage: bench.sh OUTFILE   (appends one TSV line per run)
# Interleaves the drivers, 3 rounds, pinned set then unpinned set.
set -u
B="${CARGO_TARGET_DIR:-$(dirname "$0")/target}/release/pg-driver"
OUT=${1:-results.tsv}
PORT=18080
DRIVERS=(tp sqlx tp-pipe tp-verified sqlx-notest)
ROUNDS=3
TCK=$(getconf CLK_TCK)
echo -e "set\tround\tdriver\treq_s\tp50\tp99\tnon2xx\terrors\trss_kb\tpss_kb\tsrv_cpu_s\tload1" > "$OUT"
cputime() { awk '{print $14+$15}' /proc/$1/stat; }
for set in pinned unpinned; do
  for r in $(seq 1 $ROUNDS); do
    order=("${DRIVERS[@]}")
    if (( r % 2 == 0 )); then order=($(printf '%s\n' "${DRIVERS[@]}" | tac)); fi
    for d in "${order[@]}"; do
      if [ $set = pinned ]; then SRV="taskset -c 1"; WRK="taskset -c 0 wrk"; else SRV=""; WRK="wrk"; fi
      $SRV $B --driver $d --port $PORT 2>>server.log & P=$!
      for i in $(seq 50); do curl -sf localhost:$PORT/health >/dev/null && break; sleep 0.1; done
      $WRK -t1 -c64 -d2s -s users.lua http://127.0.0.1:$PORT >/dev/null
      load=$(cut -d' ' -f1 /proc/loadavg)
      c0=$(cputime $P)
      $WRK -t1 -c64 -d8s --latency -s users.lua http://127.0.0.1:$PORT > wrk-$set-$r-$d.txt
      c1=$(cputime $P)
      rss=$(awk '/^Rss:/{print $2}' /proc/$P/smaps_rollup); pss=$(awk '/^Pss:/{print $2}' /proc/$P/smaps_rollup)
      kill $P; wait $P 2>/dev/null
      f=wrk-$set-$r-$d.txt
      rps=$(awk '/^Requests\/sec/{print $2}' $f)
      p50=$(awk '$1=="50%"{print $2}' $f); p99=$(awk '$1=="99%"{print $2}' $f)
      n2=$(awk '/Non-2xx/{print $NF}' $f); n2=${n2:-0}
      err=$(awk '/Socket errors/{print $0}' $f | tr -d '\n'); err=${err:-none}
      cpu=$(echo "scale=2; ($c1-$c0)/$TCK" | bc)
      echo -e "$set\t$r\t$d\t$rps\t$p50\t$p99\t$n2\t$err\t$rss\t$pss\t$cpu\t$load" | tee -a "$OUT"
      sleep 1
    done
  done
done
