"""The one exception type that means "the user's input is wrong"."""


class UserError(Exception):
    """Bad input from the user: the CLI prints the message on one line and exits with code 2."""


class RunStopped(Exception):
    """Training stopped early on a signal (Ctrl-C, SIGTERM) with its state saved: the CLI exits 130."""
