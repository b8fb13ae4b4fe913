"""The one exception type convis raises for a user's mistake."""


class ConvisError(Exception):
    """Bad input from the user: the message names the bad value and what to type instead."""


def user_error(err: BaseException) -> ConvisError | None:
    """The ConvisError behind `err`, also when Hydra's instantiate wrapped it, else None."""
    while err is not None and not isinstance(err, ConvisError):
        err = err.__cause__
    return err
