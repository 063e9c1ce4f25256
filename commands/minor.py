"""roster minor: birth dates and guardians' consent for volunteers under 18 (未成年志愿者)."""

from __future__ import annotations

from datetime import date

import click

from cli import AppContext, group, pass_app
from commands.options import date_option_callback
from scheduler.i18n import _


@group()
def minor() -> None:
    """Birth dates and guardians' consent for volunteers under 18 (未成年志愿者).

    \b
    A volunteer under 18 (age at the shift's date) needs a guardian's consent in force
    before any assignment, and is never placed in a shift ending after 21:00
    (ROSTER_MINOR_LATEST_END, or the service's --minor-latest-end). The birth date is
    the one recorded here, else the one in the volunteer's 18-digit ID number.
    """


@minor.command("birth-date")
@click.argument("volunteer")
@click.argument("birth_date", required=False)
@click.option("--today", callback=date_option_callback, help="Check against this date (default: today).")
@pass_app
def minor_birth_date(app: AppContext, volunteer: str, birth_date: str | None, today: date | None) -> None:
    """Record a volunteer's birth date (YYYY-MM-DD); without one, read it from their ID number."""
    from scheduler.planning import local_today
    from scheduler.volunteers.minors import set_birth_date

    day = today or local_today(app.settings.timezone)

    def work(s):  # type: ignore[no-untyped-def]
        row = set_birth_date(s, volunteer, birth_date, day)
        return {"volunteer_id": row.id, "birth_date": row.birth_date.isoformat() if row.birth_date else None}

    data = app.run(work)
    app.out.result(data, _("volunteer #{id}: birth date {date}").format(
        id=data["volunteer_id"], date=data["birth_date"] or _("none")))


@minor.command("consent")
@click.argument("volunteer")
@click.option("--guardian", required=True, help="The guardian's name.")
@click.option("--relation", required=True, help="Relation to the volunteer (e.g. 母亲, 父亲).")
@click.option("--phone", required=True, help="The guardian's mainland mobile number.")
@click.option("--date", "given_on", required=True, help="Date the consent was signed, YYYY-MM-DD.")
@click.option("--copy-reminders", is_flag=True,
              help="Send the guardian a copy of the volunteer's reminders and notices by SMS.")
@click.option("--by", default="", help="Who records it.")
@click.option("--today", callback=date_option_callback, help="Check against this date (default: today).")
@pass_app
def minor_consent(app: AppContext, volunteer: str, guardian: str, relation: str, phone: str, given_on: str,
                  copy_reminders: bool, by: str, today: date | None) -> None:
    """Record a guardian's consent (监护人同意); it replaces the one in force."""
    from scheduler.planning import local_today
    from scheduler.volunteers.minors import ConsentSpec, consent_as_dict, record_consent

    day = today or local_today(app.settings.timezone)
    spec = ConsentSpec(guardian, relation, phone, given_on, copy_reminders)
    data = app.run(lambda s: consent_as_dict(record_consent(s, volunteer, spec, by, day)))
    app.out.result(data, _("recorded consent #{id} for volunteer #{volunteer} ({relation}, {phone})").format(
        id=data["id"], volunteer=data["volunteer_id"], relation=data["relation"], phone=data["phone"]))


@minor.command("revoke")
@click.argument("volunteer")
@click.option("--by", default="", help="Who records it.")
@pass_app
def minor_revoke(app: AppContext, volunteer: str, by: str) -> None:
    """Revoke the guardian's consent in force (kept in the history)."""
    from scheduler.volunteers.minors import consent_as_dict, revoke_consent

    data = app.run(lambda s: consent_as_dict(revoke_consent(s, volunteer, by)))
    app.out.result(data, _("revoked consent #{id} of volunteer #{volunteer}").format(
        id=data["id"], volunteer=data["volunteer_id"]))


@minor.command("history")
@click.argument("volunteer")
@click.option("--full", is_flag=True, help="Show guardians' names and phone numbers in full (coordinators only).")
@pass_app
def minor_history(app: AppContext, volunteer: str, full: bool) -> None:
    """List a volunteer's consents, in force and revoked, oldest first."""
    from scheduler.volunteers.minors import consent_as_dict, consent_history

    def work(s):  # type: ignore[no-untyped-def]
        return [consent_as_dict(row, full) for row in consent_history(s, volunteer)[1]]

    data = app.read(work)
    app.out.records(data, (_("id"), _("guardian"), _("relation"), _("phone"), _("signed"), _("copies"), _("revoked")),
                    [(d["id"], d["guardian"], d["relation"], d["phone"], d["given_on"],
                      _("yes") if d["copy_reminders"] else _("no"), d["revoked_at"] or "") for d in data])
