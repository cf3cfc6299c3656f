"""The typer app, its global options (``--version``, ``--debug``), the console-script entry point,
and how errors become one line on stderr with their exit code (0 ok, 1 budget exceeded, 2 bad usage
or input, 3 internal error)."""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import typer
from rich.console import Console

from cspcost import __version__
from cspcost.cli.streams import StdoutClosed, others_to_stderr, write_own
from cspcost.errors import STRICT_HINT, CspcostError, UnsupportedOpsWarning, failure_text


def _flags_without_type() -> None:
    """Show no ``<bool>`` type beside options that take no value (``--plot``, ``--help``): typer's rich
    help prints one for every option, which reads as if the flag wanted an argument."""
    import typer.core

    option = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if option is None or shown is None or getattr(shown, "_cspcost", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> Any:
        """The option's type, or nothing for a flag."""
        return None if getattr(self, "is_flag", False) and not getattr(self, "count", False) else shown(self, ctx)

    display_type_rich._cspcost = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


_flags_without_type()
app = typer.Typer(
    name="cspcost",
    help="What a CNN really costs, layer by layer: MACs, FLOPs, params, CIO memory traffic, bytes.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)


err = Console(stderr=True, highlight=False)


_STATE = {"debug": False, "strict": False}

# A closed stdout pipe ends the command quietly with 128 + SIGPIPE, the status a shell reports for
# git, cat or seq killed by SIGPIPE: non-zero, so `set -o pipefail` never reads a cut-off `check` as a pass.
SIGPIPE_EXIT = 141


@contextmanager
def _reporting(strict_option: bool = False) -> Iterator[None]:
    """Turn errors into one line on stderr and the documented exit code (traceback with --debug);
    print the library's unsupported-op warnings (analyze, compare, check alike) as one line each;
    send every print that is not the command's own output (libraries, user code) to stderr.
    ``strict_option``: the command has ``--strict`` (the warnings name it as the way to fail)."""
    _STATE["strict"] = strict_option
    try:
        # stdout is the command's output only: what libraries and user code print goes to stderr
        with warnings.catch_warnings(), others_to_stderr():
            warnings.simplefilter("always", UnsupportedOpsWarning)
            warnings.showwarning = _show_warning
            yield
    except CspcostError as exc:
        if _STATE["debug"]:
            raise
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, StdoutClosed):
        raise
    except SystemExit as exc:  # user code (a model file, a peer's forward) called sys.exit: bad input
        if _STATE["debug"]:
            raise
        err.print(f"error: the model's code {failure_text(exc)} (rerun with --debug for the traceback)",
                  markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:  # a path the user gave that cannot be written or read
        if _STATE["debug"]:
            raise
        err.print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - anything else is our bug: exit 3
        if _STATE["debug"]:
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                  markup=False, soft_wrap=True)
        raise typer.Exit(3) from None


def _settle_heap() -> None:
    """Move everything imported so far (torch's many objects) out of the garbage collector's sight.

    The objects a short CLI run makes trigger full collections that walk all of torch's import-time
    heap again and again (0.15 s of a fresh `cspcost analyze`); frozen objects are never freed,
    which costs nothing in a process that ends after one command.
    """
    import gc

    gc.freeze()


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A warning as one ``warning: ...`` line on stderr; the way to fail on unpriced ops is the
    command's ``--strict`` where it has one (the library's own hint names the API argument)."""
    text = str(message)
    if issubclass(category, UnsupportedOpsWarning):
        text = text.replace(STRICT_HINT, " (--strict fails instead)" if _STATE["strict"] else "")
    err.print(f"warning: {text}", markup=False, soft_wrap=True)


def _version(value: bool) -> None:
    """Print the version and exit."""
    if value:
        write_own(f"cspcost {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
) -> None:
    """cspcost: per-layer MACs, FLOPs, params and CIO of CNNs, checked against the CSPNet paper."""
    _STATE["debug"] = debug


def main() -> None:
    """Console-script entry point; ``--debug`` is accepted anywhere on the line."""
    argv = sys.argv[1:]
    if "--debug" in argv:
        argv = ["--debug", *[a for a in argv if a != "--debug"]]
    try:
        code = app(args=argv, prog_name="cspcost", standalone_mode=False)
    except typer.Abort:
        err.print("aborted")
        code = 1
    except StdoutClosed:  # `cspcost rules | head -1`: end quietly, with the status a shell gives git or cat
        code = SIGPIPE_EXIT
    except Exception as exc:  # noqa: BLE001 - only click's (or typer's vendored click's) usage errors
        if not callable(getattr(exc, "format_message", None)):
            # --debug: the traceback was asked for, but the exit code stays the documented one
            import traceback

            traceback.print_exc()
            sys.exit(exc.exit_code if isinstance(exc, CspcostError) else 3)
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `cspcost`: click printed the help; exit 2 as click does
            sys.exit(2)
        # Bad options get one line, as every other usage error does, not click's usage panel.
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path} --help" if ctx is not None else "cspcost --help"
        err.print(f"error: {exc.format_message()} (see {where})", markup=False, soft_wrap=True)
        code = getattr(exc, "exit_code", 2)
    sys.exit(code if isinstance(code, int) else 0)
