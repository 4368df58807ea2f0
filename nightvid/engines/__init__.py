"""net + weights + an ``EngineSpec`` -> a fast callable on the machine at hand.

``EngineSpec`` (``spec.py``) holds one engine's settings; ``create_engine`` (``build.py``)
builds an engine from it with the backends of one table (``table.py``: the facts,
``backends.py``: the builders). Names are loaded on first use, so importing
``nightvid.engines.spec`` or reading a fact of the table (the CLI does, for its options
and ``--help``) loads no torch; see ``build.py`` for the backends and ``auto``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nightvid.engines.build import (
        BACKEND_SPECS,
        DEFAULT_RANGE,
        PRECISIONS,
        CacheEntry,
        Engine,
        EngineControls,
        EngineFactory,
        ShapeRange,
        auto_backend,
        compile_engine,
        create_engine,
        default_cache_dir,
        default_range,
        default_workers,
        engine_factory,
        model_cycle,
        resolve_device,
    )
    from nightvid.engines.spec import EngineSpec
    from nightvid.engines.table import (
        AUTO_CPU,
        AUTO_CUDA,
        BACKEND_DETAILS,
        BACKEND_HELP,
        BACKEND_NAMES,
        BACKENDS,
        COMPILE_BACKEND_HELP,
        COMPILED_BACKENDS,
        BackendChoice,
        BackendName,
    )

__all__ = [
    "AUTO_CPU",
    "AUTO_CUDA",
    "BACKENDS",
    "BACKEND_DETAILS",
    "BACKEND_HELP",
    "BACKEND_NAMES",
    "BACKEND_SPECS",
    "BackendChoice",
    "BackendName",
    "COMPILED_BACKENDS",
    "COMPILE_BACKEND_HELP",
    "CacheEntry",
    "DEFAULT_RANGE",
    "Engine",
    "EngineControls",
    "EngineFactory",
    "EngineSpec",
    "PRECISIONS",
    "ShapeRange",
    "auto_backend",
    "compile_engine",
    "create_engine",
    "default_cache_dir",
    "default_range",
    "default_workers",
    "engine_factory",
    "model_cycle",
    "resolve_device",
]
#: The names of the torch-free backend table (``table.py``).
_TABLE = (
    "AUTO_CPU",
    "AUTO_CUDA",
    "BACKENDS",
    "BACKEND_DETAILS",
    "BACKEND_HELP",
    "BACKEND_NAMES",
    "BackendChoice",
    "BackendName",
    "COMPILED_BACKENDS",
    "COMPILE_BACKEND_HELP",
)
#: Public name -> the module that defines it, imported when the name is first read.
_HOMES = (
    {name: "nightvid.engines.build" for name in __all__}
    | {name: "nightvid.engines.table" for name in _TABLE}
    | {"EngineSpec": "nightvid.engines.spec"}
)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'nightvid.engines' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
