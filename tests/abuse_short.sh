#!/bin/sh
# The load-and-abuse program (issue 18) in its short form, for make check:
# tests/abuse.py --short.  Run tests/abuse.py alone for the full sizes.
exec python3 "${TOP_SRCDIR}/tests/abuse.py" --short
