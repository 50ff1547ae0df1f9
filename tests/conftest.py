import os

import pytest

# Keep BLAS from oversubscribing CI's two cores when tests run in parallel.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items):
    """Heavy tests run only when asked for with -m heavy (or COLLAPSEKIT_HEAVY=1)."""
    markexpr = config.getoption("-m") or ""
    if "heavy" in markexpr or os.environ.get("COLLAPSEKIT_HEAVY") == "1":
        return
    skip = pytest.mark.skip(reason="heavy: run with -m heavy")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)
