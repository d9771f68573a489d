"""The tiny test runner the official-SDK fidelity scripts share: `@check(name)` runs a check at
once and records it (a failure is printed and counted, and the run goes on); `finish(label)`
prints `<label> fidelity: N passed, M failed` and exits non-zero on any failure."""

import sys
import time
import traceback

RESULTS = {"passed": 0, "failed": 0}


def check(name):
    def run(fn):
        started = time.time()
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failure and keep going
            RESULTS["failed"] += 1
            print(f"FAIL {name}")
            traceback.print_exc()
        else:
            RESULTS["passed"] += 1
            print(f"ok   {name} ({time.time() - started:.2f}s)")
        return fn

    return run


def finish(label):
    print(f"{label} fidelity: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)
