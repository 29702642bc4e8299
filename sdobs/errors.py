"""Errors shared across sdobs, light enough for the exporter's install (no dependencies)."""


class NotFound(LookupError):
    """What the user asked for is not there: a Knative dialect, a price-table spec, history.

    The message is one sentence saying what to do, so the ``sdobs`` command prints it as it is.
    Being a ``LookupError`` keeps callers that catch that working; the command catches only this
    class, so a programming ``KeyError`` still shows its traceback.
    """


class InputError(ValueError):
    """Input the user gave is not valid: a flag, a file, a setting, a query argument.

    The message is one sentence saying what is wrong and what would do, so the ``sdobs`` command
    prints it as it is. Being a ``ValueError`` keeps callers that catch that working; the command
    catches only the project's own error types, so a programming ``ValueError`` keeps its
    traceback.
    """
