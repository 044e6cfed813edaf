"""The `scalinglab` command line: each module below registers its commands on `app`."""

from scalinglab.cli.app import app

# Importing a command module registers its commands (one line per module, kept sorted).
# isort: off
from scalinglab.cli import analysis_commands  # noqa: F401
from scalinglab.cli import demo_commands  # noqa: F401
from scalinglab.cli import fit_commands  # noqa: F401
from scalinglab.cli import import_commands  # noqa: F401
from scalinglab.cli import plan_commands  # noqa: F401
from scalinglab.cli import predict_commands  # noqa: F401
from scalinglab.cli import report_commands  # noqa: F401
from scalinglab.cli import reproduce_commands  # noqa: F401
from scalinglab.cli import sweep_commands  # noqa: F401
from scalinglab.cli import train_commands  # noqa: F401
# isort: on


def main() -> None:
    import sys

    # A terminal that cannot show a character (LANG=C, latin-1) gets "?" for it, never a
    # traceback halfway through a table (the intervals' en dash, a run's name).
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    app()
