"""The door: Typer commands that parse flags into a library call and print its result.

One module per command group (``enhance``, ``measure``, ``models``, ``train``,
``preview``); ``common`` holds what they share, above all ``reported()``: library
errors (``NightvidError``) become one red line on stderr and exit code 1, Ctrl-C exit
code 130 with nothing written. No logic lives here: the jobs (``nightvid.jobs``), the
trainers and the streamer do the work.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from nightvid.cli import cache, enhance, many, measure, models, preview, train
from nightvid.cli.common import fail

__all__ = ["app"]


@contextlib.contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """A bad flag or value (``--crf abc``, an unknown option) as one ``error:`` line, exit 2.

    Typer would print the usage line, a hint and a boxed message: four to six lines for
    one mistake, and no ``error:`` to grep for. The command's ``--help`` is named instead.
    """
    try:
        yield
    except typer.TyperException as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # `nightvid` alone: its help is the answer
            raise
        message = " ".join(err.format_message().split())
        ctx = getattr(err, "ctx", None)
        if ctx is not None and getattr(err, "exit_code", 1) == 2:
            message = f"{message} (see '{ctx.command_path} --help')"
        raise fail(message, code=getattr(err, "exit_code", 1)) from None


class _Group(TyperGroup):
    """The command group, with usage errors as one line (``_one_line_usage_errors``)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Group,
    help="Turn dark video into watchable video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    """``--version``: the installed package's version, then exit 0."""
    if asked:
        from importlib.metadata import version

        print(f"nightvid {version('nightvid')}")
        raise typer.Exit()


@app.callback()
def _take_ctrl_c(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Before any command: take SIGINT even where it was inherited as ignored.

    A shell starts background jobs with SIGINT ignored, and Python then installs no
    Ctrl-C handler: `kill -INT` on a backgrounded `nightvid enhance` did nothing and the
    run went on to write its whole output. A terminal's Ctrl-C reaches only the
    foreground job anyway, so taking SIGINT back changes nothing for it.
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: Command name -> function, in the order `nightvid --help` lists them.
COMMANDS: dict[str, Callable[..., None]] = {
    "enhance": enhance.enhance,
    "demo": enhance.demo,
    "enhance-many": many.enhance_many,
    "bench": measure.bench,
    "models": models.models,
    "compile": models.compile_cmd,
    "eval": measure.eval_cmd,
    "compare": measure.compare,
    "preview": preview.preview,
    "train": train.train,
}
for _name, _command in COMMANDS.items():
    app.command(_name)(_command)
#: Command groups (``nightvid cache list``), after the commands in ``nightvid --help``.
app.add_typer(cache.app, name="cache")
