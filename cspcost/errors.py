"""The cspcost exception family: each error carries the exit code the CLI returns for it."""
from __future__ import annotations


# What user code (a model file, factory or forward) may raise that cspcost reports as bad input:
# ``sys.exit()`` in a model file is the user's bug, never a reason for cspcost to exit 0 unseen.
USER_CODE_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit)


def failure_text(exc: BaseException) -> str:
    """What user code did, in a few words: ``called sys.exit(0)`` or ``ValueError: bad width``."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}); a model file must not exit"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}".rstrip(": ")


class CspcostError(Exception):
    """Base of every error cspcost reports to a user as one line."""

    exit_code = 3


class UsageError(CspcostError):
    """Bad usage or input: unknown model, malformed size, broken file (exit 2)."""

    exit_code = 2


class UnknownModelError(UsageError):
    """A model name that is neither in the zoo nor a loadable ``file.py:factory``."""


class ModelLoadError(UsageError):
    """A ``file.py:factory`` or ``module:factory`` that cannot be imported or raises."""


class CfgFileError(ModelLoadError):
    """A malformed darknet .cfg file; the message names file, line and problem."""


class BudgetFileError(UsageError):
    """A malformed budgets file: the message names the file, line and key."""


class ForwardError(UsageError):
    """The model's forward pass failed; the message names the module that failed."""


class MetaDeviceError(ForwardError):
    """The model cannot run on the meta device (data-dependent ops); suggests ``--device cpu``."""


class UnsupportedOpsError(UsageError):
    """``--strict`` was given and the model ran ops no rule covers."""


class DeviceError(UsageError):
    """A device was asked for that is absent (e.g. CUDA on a machine without a GPU)."""


class UnsupportedDtypeError(DeviceError):
    """The model cannot run at the asked dtype on the asked device (an op lacks a kernel)."""


class OutOfMemoryError(DeviceError):
    """The device ran out of memory; ``largest_batch`` is the largest batch that fitted (or None)."""

    def __init__(self, message: str, largest_batch: int | None = None) -> None:
        super().__init__(message)
        self.largest_batch = largest_batch


class InternalError(CspcostError):
    """A bug in cspcost itself (exit 3)."""


class UnsupportedOpsWarning(UserWarning):
    """The model ran ops that no rule prices; they count as 0 (``--strict`` makes this an error)."""


# The API's way to fail instead; the CLI swaps it for its own option where the command has one.
STRICT_HINT = " (strict=True fails instead)"


def unsupported_ops_text(name: str, unsupported: dict[str, int]) -> str:
    """The one line naming every op no rule prices in model ``name`` (walker and cache alike)."""
    listed = ", ".join(f"{op} x{n}" for op, n in sorted(unsupported.items()))
    return f"no cost rule for {listed} in {name}; counted as 0{STRICT_HINT}"
class ValuesNeededWarning(UserWarning):
    """A model that reads tensor values (a detector, a quantized model) left the meta device for the
    CPU, with random weights; the message says why."""


class MissingExtraError(UsageError):
    """A model spec needs an optional library that is not installed; the message names the extra."""
