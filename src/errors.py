"""The one exception type convis raises for a user's mistake."""


class ConvisError(Exception):
    """Bad input from the user: the message names the bad value and what to type instead."""
