"""The backend table's facts load without torch, and every list of backend names is the table's."""

from __future__ import annotations

import subprocess
import sys
import typing

from nightvid.engines.backends import BACKEND_SPECS
from nightvid.engines.table import (
    AUTO_CPU,
    AUTO_CUDA,
    BACKEND_FACTS,
    BACKEND_HELP,
    BACKEND_NAMES,
    BACKENDS,
    COMPILED_BACKENDS,
    MULTI_WORKER_BACKENDS,
    BackendChoice,
    BackendName,
)


def test_the_table_module_loads_no_torch() -> None:
    code = "import sys, nightvid.engines.table; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_the_name_lists_are_the_tables() -> None:
    assert typing.get_args(BackendName) == BACKEND_NAMES == tuple(BACKEND_FACTS) == tuple(BACKEND_SPECS)
    assert typing.get_args(BackendChoice) == BACKENDS == ("auto", *BACKEND_NAMES)


def test_the_builders_agree_with_the_facts() -> None:
    for name, spec in BACKEND_SPECS.items():
        assert spec.facts is BACKEND_FACTS[name]
        assert spec.compiled == (spec.artifact is not None) == (name in COMPILED_BACKENDS)
        assert spec.multi_worker == (name in MULTI_WORKER_BACKENDS)


def test_autos_orders_name_backends_of_the_table() -> None:
    for order in (*AUTO_CPU.values(), AUTO_CUDA):
        assert order and set(order) <= set(BACKEND_NAMES)


def test_the_clis_backend_help_is_the_tables() -> None:
    from nightvid.cli.common import Backend

    option = typing.get_args(Backend)[1]
    assert option.help == BACKEND_HELP
    assert all(name in BACKEND_HELP for name in BACKENDS)
