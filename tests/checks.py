"""What the Python test scripts share: counted checks, bounded waits, and
the "N passed, N failed" line the suite reads."""
import sys
import time

passed = 0
failed = 0
failures = []  # (what, detail): repeated at the end, where a log's tail shows them


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        failures.append((what, detail))
        print("FAIL: %s %s" % (what, detail), file=sys.stderr)
    return cond


def wait_until(pred, seconds=10.0):
    """Polls a condition something else reaches by itself (a timer, a
    worker): bounded, and returns as soon as it holds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def summary():
    """Prints the failed checks again and the totals; the exit status for
    them."""
    for what, detail in failures:
        print("failed: %s %s" % (what, str(detail)[:2000]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
