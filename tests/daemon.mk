# tests of pktexportd over HTTP
TESTS += tests/daemon_api.py
EXTRA_DIST += tests/daemon_api.py tests/checks.py
