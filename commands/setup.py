"""Setting up and running: init, where, demo, run."""

from __future__ import annotations

import sys
from datetime import date

import click

from cli import AppContext, command, pass_app
from commands.options import date_option_callback
from scheduler.i18n import N_, _, translate

#: The lines of `roster where` as a table shows them (JSON keeps the English keys).
WHERE_LABELS = {
    "home": N_("data folder"), "database": N_("database"), "broker": N_("broker"),
    "feed_dir": N_("feed folder"), "public_base_url": N_("public feed address"),
    "database_file": N_("database file"),
}


@command()
@pass_app
def init(app: AppContext) -> None:
    """Create or upgrade the database schema (runs the migrations)."""
    from scheduler.migrate import current_revision, upgrade
    from scheduler.settings import redacted_url

    app.creates_schema = True
    upgrade(app.engine)
    app.out.message(_("database ready at revision {revision}: {url}").format(
        revision=current_revision(app.engine), url=redacted_url(app.settings.database_url)))


@command()
@pass_app
def where(app: AppContext) -> None:
    """Show which database, broker and feed folder this command line uses.

    The embedded default lives in the per-user data folder (on Linux ~/.local/share/roster);
    ROSTER_HOME moves it, ROSTER_DATABASE_URL and ROSTER_FEED_DIR override each part.
    Passwords in URLs are hidden.
    """
    data = app.settings.where()
    path = app.settings.sqlite_path()
    shown = dict(data)
    if path is not None:
        data["database_file"] = str(path.resolve()) + ("" if path.exists() else " (missing: run `roster init`)")
        shown["database_file"] = str(path.resolve()) + (
            "" if path.exists() else " " + _("(missing: run `roster init`)"))
    app.out.result(data, None)
    app.out.table((_("field"), _("value")), [(translate(WHERE_LABELS.get(k, k)), v) for k, v in shown.items()])


@command()
@click.option("--today", callback=date_option_callback, help="Pretend today is this date (YYYY-MM-DD).")
@click.option("--no-workers", is_flag=True,
              help="Run the cycle's jobs in this process instead of through a Celery worker (faster).")
@pass_app
def demo(app: AppContext, today: date | None, no_workers: bool) -> None:
    """Load the Longcheng demo and run one cycle (plan, fill, publish, remind).

    The cycle runs through a real Celery worker on ROSTER_BROKER_URL (by default the embedded
    SQLite broker, broker.db beside the database; see `roster where`): the demo starts it, sends
    it each job, and stops it; the reminders it sends on the console channel are shown.
    Language: ROSTER_LANG=zh_CN (中文) or ROSTER_LANG=en (English).
    """
    from demo.loader import run_demo

    app.creates_schema = True  # the demo migrates the database itself
    if no_workers:
        for line in run_demo(app.engine, app.settings, today=today):
            click.echo(line)
        return
    from demo.workers import WorkerFailed, WorkerSteps

    try:
        with WorkerSteps(app.settings) as steps:
            for line in run_demo(app.engine, app.settings, today=today, steps=steps):
                click.echo(line)
    except WorkerFailed as exc:
        raise click.ClickException(_("{error}\n(`roster demo --no-workers` runs the cycle without a worker)").format(
            error=exc)) from exc


@command("run")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker threads.")
@click.option("--loglevel", type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              default="info", show_default=True, help="Log level.")
@pass_app
def run_workers(app: AppContext, concurrency: int, loglevel: str) -> None:
    """Run the workers and beat in one process (embedded default broker).

    Uses ROSTER_BROKER_URL: by default Celery's SQLAlchemy transport on
    broker.db in the data folder (`roster where`; no Redis needed); a redis:// URL runs the same code on Redis.
    A worker that dies unexpectedly is restarted. Stop with Ctrl-C.
    """
    app.settings.ensure_dirs()
    from tasks.app import create_app, prepare_broker
    from tasks.supervise import supervise

    try:
        # A throwaway app: the worker's own must not carry a connection across beat's fork.
        prepare_broker(create_app(app.settings))
    except Exception as exc:  # an unreachable broker: say so, without a traceback
        raise click.ClickException(_("cannot reach the broker: {error}").format(
            error=f"{type(exc).__name__}: {exc}")) from exc
    worker = [
        sys.executable, "-m", "celery", "-A", "tasks.app", "worker", "--beat", "--pool=threads",
        f"--concurrency={concurrency}", f"--loglevel={loglevel.upper()}",
        f"--schedule={app.settings.home / 'celerybeat-schedule'}", "--without-gossip", "--without-mingle",
    ]
    code = supervise(worker, say=lambda line: click.echo(line, err=True))
    if code:
        sys.exit(code)
