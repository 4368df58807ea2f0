"""Helpers for tests that run `nightvid` in a subprocess and interrupt it."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """``preexec_fn`` that lets the child take SIGINT (Ctrl-C) even when this test runs in
    a background job: shells start background jobs with SIGINT ignored, children inherit
    that, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
