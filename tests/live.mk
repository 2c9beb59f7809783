# live capture (source-live) on the loopback interface, CLI and daemon;
# skipped where the tests may not capture
if PLUGIN_SOURCE_LIVE
TESTS += tests/live.py
endif
EXTRA_DIST += tests/live.py
