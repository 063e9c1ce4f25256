"""The daily qualification-expiry notices (30 and 7 days before a qualification ends)."""

from __future__ import annotations

from datetime import date
from typing import Any

from scheduler.db import run_in_transaction
from tasks.app import app
from tasks.jobs import _engine, _local_today, _settings


@app.task(name="roster.qualification_expiry")
def qualification_expiry(today: str | None = None) -> dict[str, Any]:
    """Tell holders and their coordinators of qualifications ending in 30 or 7 days (each notice once,
    through the ``qualification_notice`` ledger, so a second beat or a re-run sends nothing)."""
    from scheduler.messages.channels import channels_from_settings
    from scheduler.volunteers.qualifications import send_expiry_notices

    settings = _settings()
    day = date.fromisoformat(today) if today else _local_today()
    channels = channels_from_settings(settings)
    try:
        result = run_in_transaction(_engine(), lambda s: send_expiry_notices(
            s, channels, day, settings.policy().default_channel))
    finally:
        channels.close()
    return {"sent": result.sent, "skipped": result.skipped, "failed": result.failed}
