"""Training's allocator settings: reused while training, handed back afterwards."""

import sys

import numpy as np
import pytest

from fastspami._kernels.memory import reuse_freed_memory


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_memory_freed_during_training_goes_back_to_the_os_afterwards():
    before = _rss_mb()
    with reuse_freed_memory() as applied:
        assert applied
        blocks = [np.ones(25_000_000, dtype=np.float32) for _ in range(4)]  # 4 x 100 MB
        assert _rss_mb() > before + 350
        del blocks
        # kept on the heap for reuse while training...
        kept = _rss_mb()
    # ...and returned on exit
    assert kept > before + 350
    assert _rss_mb() < before + 50
