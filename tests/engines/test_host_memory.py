"""Freed host memory is kept for reuse (no page faults per frame), and the tiling probe
still sees a frame's real working memory."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning applies to glibc's malloc only")

#: Allocates, fills and frees 64 MiB blocks, as a conv net does with its feature maps
#: every frame, on the main thread and on a new thread; prints the minor page faults of
#: five blocks once the heap has settled (torch's aligned blocks leave gaps at first, so
#: the heap grows by a few blocks before freed ones fit the next request).
CHURN = """
import json, resource, threading
import torch
from nightvid.memory import keep_freed_memory

tuned = keep_freed_memory()
faults = {}

def churn(where):
    for _ in range(12):  # the first blocks are faulted in either way
        torch.empty(2**24).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        torch.empty(2**24).fill_(1.0)
    faults[where] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

churn("main")
thread = threading.Thread(target=churn, args=("thread",))
thread.start()
thread.join()
print(json.dumps({"tuned": tuned, **faults}))
"""


def _churn(keep: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NIGHTVID_KEEP_FREED_MEMORY"}
    if keep is not None:
        env["NIGHTVID_KEEP_FREED_MEMORY"] = keep
    out = subprocess.run([sys.executable, "-c", CHURN], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc
def test_freed_blocks_are_reused_without_page_faults_on_every_thread() -> None:
    pages = 5 * 2**26 // 4096  # what five fresh 64 MiB blocks fault in
    default, tuned = _churn("0"), _churn(None)
    assert not default["tuned"] and tuned["tuned"]
    # glibc's default maps and unmaps every such block: each one is faulted in again.
    assert default["main"] > 0.9 * pages and default["thread"] > 0.9 * pages
    assert tuned["main"] < 0.05 * pages and tuned["thread"] < 0.05 * pages


@glibc
def test_memory_probe_sees_a_frames_working_memory_with_freed_memory_kept() -> None:
    from nightvid.engines import create_engine
    from nightvid.engines.tiling import PROBE_SIDE, bytes_per_pixel
    from nightvid.memory import keep_freed_memory

    engine = create_engine("noiser", backend="eager", device="cpu", tile=0)  # no probe before the one timed
    assert keep_freed_memory()  # create_engine tuned this process
    frame = np.zeros((1, 2 * PROBE_SIDE, 2 * PROBE_SIDE, 3), np.uint8)
    engine.enhance_frames(frame)  # freed maps of a frame 4x the probe's stay in the heap
    # NoiSER keeps at least two 32-channel fp32 maps alive at once: 256 bytes per pixel.
    assert bytes_per_pixel(engine) > 256
