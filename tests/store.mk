# tests of the packet store (plugins/source-store, pktexport store)
if PLUGIN_SOURCE_STORE
TESTS += tests/store_windows.sh tests/store_cases.sh
endif
EXTRA_DIST += tests/store_windows.sh tests/store_cases.sh tests/store_lib.sh \
	tests/store_ref.py
