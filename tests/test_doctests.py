"""Every ``Example:`` in the package's docstrings runs, so none goes stale (#26)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import nightvid

#: ``__main__`` runs the CLI on import; the kernels folder holds C++ sources.
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(nightvid.__path__, "nightvid.")
    if not m.name.endswith("__main__") and ".kernels" not in m.name
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see above)"


def test_the_package_has_examples() -> None:
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name)))
    assert examples > 50  # the docstrings' examples are found (about 90 today)
