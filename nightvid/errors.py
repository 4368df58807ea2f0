"""The one exception type the CLI turns into a one-line message and exit code 1."""

from __future__ import annotations

__all__ = ["NightvidError"]


class NightvidError(Exception):
    """A problem the user can fix (bad input, missing file, wrong weights).

    Library code raises it with a message fit to print as is; anything else that
    escapes is a bug.
    """
