"""The error that means "the user's input is wrong".

It lives in the lowest layer that raises it (the FCC tools); the trainers above
raise it too. Commands show it as one `error:` line (see `fcc_dataset.cli`).
"""


class InputError(Exception):
    """Bad flags or data: the message names the file or argument and what was expected."""
