# tests of pktexportd over HTTP
TESTS += tests/daemon_api.py tests/daemon_auth.py tests/daemon_layers.sh \
	tests/daemon_tls.py tests/daemon_services.py tests/abuse_short.sh \
	tests/daemon_timeline.py tests/console_browser.py tests/cli_remote.py
EXTRA_DIST += tests/daemon_api.py tests/daemon_auth.py tests/checks.py \
	tests/daemon_layers.sh tests/daemon_tls.py tests/daemon_services.py \
	tests/abuse.py tests/abuse_short.sh tests/daemon_timeline.py \
	tests/console_browser.py tests/cli_remote.py
