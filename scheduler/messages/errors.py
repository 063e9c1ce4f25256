"""The one failure a channel or an SMS provider raises (its own module, so that the SMS providers and
the channels that build them import it without importing each other)."""

from __future__ import annotations


class ChannelError(Exception):
    """A send failed. ``permanent``: retrying cannot help (no address, a rejected credential)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
