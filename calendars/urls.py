"""Where each feed lives: its path in the feed folder and its public ``https://`` and ``webcal://`` links."""

from __future__ import annotations

from calendars.dirty import DISTRICT, volunteer_key


def feed_path(key: str, token: str | None = None) -> str:
    """A feed's path relative to the feed folder."""
    if key == DISTRICT:
        return "district.ics"
    kind, _, ident = key.partition(":")
    if kind == "branch":
        return f"branches/{ident}.ics"
    if kind == "community":
        return f"communities/{ident}.ics"
    if kind == "volunteer" and token:
        return f"volunteers/{token}.ics"
    raise ValueError(f"no path for feed {key!r}")


def feed_url(base_url: str, key: str, token: str | None = None) -> str:
    """The feed's public ``https://`` address under ``ROSTER_PUBLIC_BASE_URL``."""
    return f"{base_url.rstrip('/')}/{feed_path(key, token)}"


def volunteer_feed_url(base_url: str, volunteer_id: int, token: str) -> str:
    """A volunteer's private feed address (its token is the secret part)."""
    return feed_url(base_url, volunteer_key(volunteer_id), token)


def webcal_url(url: str) -> str:
    """The same address with the ``webcal://`` scheme, which calendar apps open as a subscription."""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return "webcal://" + url[len(scheme):]
    return url
