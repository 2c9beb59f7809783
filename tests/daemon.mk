# tests of pktexportd over HTTP
TESTS += tests/daemon_api.py tests/daemon_auth.py
EXTRA_DIST += tests/daemon_api.py tests/daemon_auth.py tests/checks.py
