#!/bin/bash
# The daemon's files call each other in layers, never in a circle: from
# the symbols each object file uses and defines (nm), the graph of which
# file calls which, checked for cycles.  Prints the graph; exit 1 on a
# cycle.
#
#   tools/check-layers.sh OBJECT...   (the daemon's .o files)
set -euo pipefail
declare -A defines edges
name() { basename "$1" .o | sed 's/^pktexportd-//'; }
for o in "$@"; do
	for s in $(nm --defined-only "$o" | awk '$2 ~ /[TDBR]/ {print $3}'); do
		defines[$s]=$(name "$o")
	done
done
for o in "$@"; do
	from=$(name "$o")
	for s in $(nm -u "$o" | awk '{print $2}'); do
		to=${defines[$s]:-}
		if [ -n "$to" ] && [ "$to" != "$from" ]; then
			edges["$from $to"]=1
		fi
	done
done
graph=$(printf '%s\n' "${!edges[@]}" | sort)
echo "$graph" | awk '{print "  " $1 " -> " $2}'
# tsort reports a cycle on stderr.
if ! order=$(echo "$graph" | tsort 2>&1 >/dev/null) || [ -n "$order" ]; then
	echo "layers: a cycle among the daemon's files:" >&2
	echo "$order" >&2
	exit 1
fi
echo "layers: no cycle ($(echo "$graph" | tsort | tr '\n' ' '))"
