"""The one exception type that the CLI turns into a single stderr line and exit code 2."""


class UserError(Exception):
    """Bad input from the user (unknown name, missing data, bad value): reported, never a traceback."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM turned into the same clean stop as Ctrl-C (SIGINT), remembering which signal it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
