"""roster web: serve the volunteer pages (志愿者页面)."""

from __future__ import annotations

import click

from cli import AppContext, pass_app
from scheduler.i18n import _


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8088, show_default=True)
@pass_app
def web(app: AppContext, host: str, port: int) -> None:
    """Serve the volunteer pages (我的排班, 可报名) behind each volunteer's link.

    For a laptop or a small site: one process, threads. In production run several gunicorn workers
    behind nginx (docker-compose.yml's `web` service); set ROSTER_WEB_BASE_URL to the address the
    links in reminders should carry, ROSTER_WEB_SECRET to one key shared by all workers, and
    ROSTER_WEB_LIMITER_STORAGE to a redis:// URL so that the rate limits are shared too.
    """
    from werkzeug.serving import WSGIRequestHandler, run_simple

    from web import create_app

    class QuietHandler(WSGIRequestHandler):
        """No request log: the paths carry the volunteers' personal tokens (credentials)."""

        def log_request(self, *args: object, **kwargs: object) -> None:
            pass

    app.engine  # noqa: B018  (refuses an unmigrated database before serving: "run roster init")
    application = create_app(app.settings)
    app.out.note(_("volunteer pages on {url}  (links: {links})").format(
        url=f"http://{host}:{port}/", links=f"{app.settings.web_base_url}/v/<token>"), err=True)
    run_simple(host, port, application, threaded=True, use_reloader=False, use_debugger=False,
               request_handler=QuietHandler)
