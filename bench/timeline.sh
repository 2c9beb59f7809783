#!/bin/bash
# The timeline endpoint's latency over the whole span of large stores,
# through pktexportd over HTTP (GET /api/pktexport/1.0/timeline).
#
#   bench/timeline.sh [BUILD_DIR]
#   SIZES="10g day" (which stores: 10g, day, week, year), RUNS=30,
#   BENCH_DIR=/tmp/pktexport-bench-timeline, KEEP=1 keeps the stores.
#
# The stores are synthetic (bench/mkstore.c): sparse capture files of
# their full size holding no packet data, with the indexes and catalog
# such traffic would have (1024-byte records at 1 Gb/s, an index entry a
# 256 KiB), written with the store's own index code:
#   10g   10 files of 1 GiB: 10 GiB, 40,960 entries (1.3 MB of index)
#   day   a day at 1 Gb/s: 158 files of 64 GiB, 41 million entries (1.3 GB)
#   week  a week at 1 Gb/s: 69 files of 1 TiB, 290 million entries (9 GB)
#   year  a year at 1 Gb/s in 3,671,288 files of 1 GiB: the rollup only
#         (3.67 million points, 117 MB) and the newest file with its
#         index; the other files and their 1.5e10 index entries (480 GB)
#         are not written (see doc/benchmarks.md)
# Each store gets its rollup (.index/rollup, a point every 4096 entries)
# and its coarser levels (rollup2, rollup3: every 64th and 4096th point).
#
# For each store: the whole span with 2000 and 200 intervals, RUNS times
# each; "cold" runs first drop the index files from the page cache
# (posix_fadvise DONTNEED on those files only), "warm" ones do not.
set -eu
BUILD=$(cd "${1:-.}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/tmp/pktexport-bench-timeline}
SIZES=${SIZES:-10g day}
RUNS=${RUNS:-30}
export PKTEXPORT_PLUGIN_DIR=$BUILD/plugins/.libs
export PKTEXPORT_STORE=$BUILD/pktexport-store
mkdir -p "$DIR/root/jobs"
[ "${KEEP:-}" ] || trap 'rm -rf "$DIR"' EXIT

cc -O2 -I"$BUILD" -I"$SRC" -I"$SRC/include" -I"$SRC/plugins/source-store" \
	-I"$SRC/plugins/common" "$SRC/bench/mkstore.c" \
	"$SRC/plugins/source-store/store_index.c" \
	"$SRC/plugins/source-store/capfile.c" -o "$DIR/mkstore"

for s in $SIZES; do
	[ -d "$DIR/root/jobs/$s" ] && continue
	only=
	case $s in
	10g) args="10 1073741824" ;;
	day) args="158 68719476736" ;;
	week) args="69 1099511627776" ;;
	year) args="3671288 1073741824"; only=rollup-only ;;
	*) echo "unknown size $s" >&2; exit 2 ;;
	esac
	echo "writing store $s..." >&2
	/usr/bin/time -f "  written in %e s" "$DIR/mkstore" "$DIR/root/jobs/$s" \
		$args 1000000000 1700000000000000000 $only
done

python3 - "$BUILD/pktexportd" "$DIR/root" "$RUNS" $SIZES <<'EOF'
import http.client, json, os, statistics, subprocess, sys, time
daemon, root, runs, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
p = subprocess.Popen([daemon, "--root", root, "--listen", "127.0.0.1:0"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
host, port = p.stdout.readline().strip().rsplit(":", 1)

def drop(job):
    d = os.path.join(root, "jobs", job, ".index")
    for n in os.listdir(d):
        fd = os.open(os.path.join(d, n), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)

def get(job, n):
    c = http.client.HTTPConnection(host, int(port))
    t = time.perf_counter()
    c.request("GET", "/api/pktexport/1.0/timeline?path=jobs/%s&intervals=%d" % (job, n))
    r = c.getresponse()
    body = r.read()
    dt = (time.perf_counter() - t) * 1000
    c.close()
    assert r.status == 200, body[:300]
    return dt, json.loads(body)

try:
    print("%-5s %5s %-5s %8s %8s %8s %9s %10s %8s %s" % (
        "store", "N", "cache", "median", "p95", "max", "entries", "bytes", "files", "from"))
    for job in sizes:
        for n in (2000, 200):
            for cache in ("cold", "warm"):
                times = []
                for i in range(runs):
                    if cache == "cold":
                        drop(job)
                    dt, doc = get(job, n)
                    times.append(dt)
                times.sort()
                print("%-5s %5d %-5s %6.1fms %6.1fms %6.1fms %9d %10d %8d %s" % (
                    job, n, cache, statistics.median(times),
                    times[int(len(times) * 0.95) - 1 if len(times) > 1 else 0], times[-1],
                    doc["index_entries_read"], doc["index_bytes_read"], doc["files"],
                    doc["granularity"]))
        print("      span %s .. %s, %d packets, %.3g bytes" % (
            doc["first_packet_time"], doc["last_packet_time"], doc["packets"], doc["bytes"]))
finally:
    p.terminate()
    p.wait()
EOF
