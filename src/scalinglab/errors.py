"""The one exception type for bad input: the CLI prints its message as a single line."""


class ScalinglabError(ValueError):
    """A problem with the user's input or request, explained in one line.

    Raised anywhere in the library; the CLI turns it into `error: <message>` and a non-zero exit,
    never a traceback. The message names the file, column, row or value at fault.
    """
