"""nightvid: turn dark video into watchable video."""

from nightvid.errors import NightvidError

__all__ = ["NightvidError", "__version__"]
__version__ = "0.1.0"
