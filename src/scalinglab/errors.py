"""The one exception type for bad input: the CLI prints its message as a single line."""


class ScalinglabError(ValueError):
    """A problem with the user's input or request, explained in one line.

    Raised anywhere in the library; the CLI turns it into `error: <message>` and a non-zero exit,
    never a traceback. The message names the file, column, row or value at fault.
    """


class Interrupted(Exception):
    """A command of several sweeps stopped by the user (Ctrl-C): what finished is stored, the
    running runs are checkpointed, and nothing after the stop (the next sweep, the analysis)
    runs. The CLI prints the message and exits 130."""
