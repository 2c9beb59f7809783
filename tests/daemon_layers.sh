#!/bin/bash
# The daemon's files call each other in layers without a cycle
# (tools/check-layers.sh over the objects make built).
. "${TOP_SRCDIR}/tests/lib.sh"
need nm tsort
objs=("$(dirname "$PKTEXPORTD")"/src/daemon/pktexportd-*.o)
check "the daemon's objects are there (${#objs[@]})" test "${#objs[@]}" -ge 7
check "no cycle among the daemon's files" "$TOP_SRCDIR/tools/check-layers.sh" "${objs[@]}"
# The leaves stay leaves: the HTTP server knows nothing of the daemon, the
# replies only the server, and exports no file above it.
graph=$("$TOP_SRCDIR/tools/check-layers.sh" "${objs[@]}" 2>/dev/null || true)
check "httpd calls no other file" test -z "$(echo "$graph" | grep '^  httpd -> ')"
check "reply calls only httpd" test -z "$(echo "$graph" | grep '^  reply -> ' | grep -v -- '-> httpd$')"
check "exports calls no other daemon file" test -z "$(echo "$graph" | grep '^  exports -> ')"
check "auth calls only reply, httpd and codes" \
	test -z "$(echo "$graph" | grep '^  auth -> ' | grep -v -- '-> \(reply\|httpd\|codes\)$')"
check "codes and task call no other daemon file" \
	test -z "$(echo "$graph" | grep '^  \(codes\|task\) -> ')"
check "files and capture never call http or main" \
	test -z "$(echo "$graph" | grep '^  \(files\|capture\) -> \(http\|main\)$')"
check "console, timeline and validate never call http or main" \
	test -z "$(echo "$graph" | grep '^  \(console\|timeline\|validate\) -> \(http\|main\)$')"
check "jobs never calls http or main" test -z "$(echo "$graph" | grep '^  jobs -> \(http\|main\)$')"
finish
