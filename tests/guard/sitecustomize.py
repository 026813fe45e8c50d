"""Loaded by every Python process the tests start (PYTHONPATH): no connection leaves loopback,
no credential file is read. A violation is refused and appended to $MLCLOUD_TEST_GUARD_LOG."""

import os
import sys

sys.path[:] = [p for p in sys.path if p != os.path.dirname(__file__)]
try:
    from mlcloud_test_guard import install

    install()
except ImportError:  # pragma: no cover - the guard module sits next to this file
    pass
