"""roster feeds: publish, list and serve the calendar feeds (日历订阅)."""

from __future__ import annotations

import click

from cli import AppContext, group, pass_app
from scheduler.i18n import _


@group()
def feeds() -> None:
    """Publish, list and serve the calendar feeds (日历订阅)."""


@feeds.command("publish")
@click.option("--all", "all_feeds", is_flag=True, help="Rebuild every feed, not only the dirty ones.")
@click.option("--no-district", is_flag=True, help="Leave the district-wide feed for its own, slower run.")
@pass_app
def feeds_publish(app: AppContext, all_feeds: bool, no_district: bool) -> None:
    """Relay pending changes, rebuild the dirty feeds, write the changed files.

    Changes waiting in the outbox (a cancel, a move, an assignment made with no worker running)
    are relayed first, so the feeds show them at once. Files are written atomically.

    Example: roster feeds publish --all
    """
    from calendars.publish import relay_and_publish

    settings = app.settings
    result = app.run(lambda s: relay_and_publish(s, settings, include_district=not no_district,
                                                 all_feeds=all_feeds))
    app.out.result(result.as_dict(),
                   _("feeds: {relayed} change(s) relayed; {written} written, {unchanged} unchanged, {deleted} "
                     "deleted in {ms} ms ({folder})").format(
                       relayed=result.relayed, written=result.written, unchanged=result.unchanged,
                       deleted=result.deleted, ms=f"{result.duration * 1000:.0f}", folder=settings.feed_dir))


@feeds.command("urls")
@pass_app
def feeds_urls(app: AppContext) -> None:
    """Print the subscribe links (https and webcal) of the public feeds."""
    from calendars.site import feed_urls

    settings = app.settings
    urls = app.read(lambda s: feed_urls(s, settings))
    app.out.records(urls, (_("feed"), _("name"), "https", "webcal"),
                    [(u["key"], u["name"], u["https"], u["webcal"]) for u in urls])


@feeds.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@pass_app
def feeds_serve(app: AppContext, host: str, port: int) -> None:
    """Serve the feed folder locally for trying subscriptions (Ctrl-C stops).

    Answers text/calendar inline with ETag, Last-Modified and 304s; production uses nginx.
    """
    from calendars.serve import make_server

    root = app.settings.feed_dir
    root.mkdir(parents=True, exist_ok=True)
    server = make_server(root, host, port)
    bound_host, bound_port = server.server_address[:2]
    click.echo(_("serving {folder} on {url} (Ctrl-C stops)").format(
        folder=root, url=f"http://{bound_host!s}:{bound_port}/"))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
