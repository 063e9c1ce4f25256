"""roster points: the points / time-bank ledger (积分 / 时间银行): balances, statements, redemptions, rates."""

from __future__ import annotations

from datetime import date

import click

from cli import AppContext, group, pass_app
from commands.options import RECORD_REF, date_option_callback, default_by
from scheduler.i18n import _, translate


@group()
def points() -> None:
    """Points and time-bank credit (积分/时间银行): balances, statements, redemptions, rates.

    \b
    Approved hours earn points at the rate of the service's kind on the day served
    (1 point an hour unless a rate is set); points are spent at a service centre.
    """


@points.command("balance")
@click.argument("volunteer_ref", metavar="[VOLUNTEER]", type=RECORD_REF, required=False)
@click.option("--branch", help="The volunteers whose home branch this is (slug).")
@click.option("--community", help="The volunteers of this community's branches (slug).")
@pass_app
def points_balance(app: AppContext, volunteer_ref: str | None, branch: str | None, community: str | None) -> None:
    """Show points balances: one volunteer, a branch, a community, or everyone with points.

    Example: roster points balance 13800138000
    """
    from scheduler.points import balances

    if sum(x is not None for x in (volunteer_ref, branch, community)) > 1:
        raise click.UsageError(_("give one of VOLUNTEER, --branch, --community"), ctx=click.get_current_context())
    data = app.read(lambda s: balances(s, volunteer_ref, branch=branch, community=community))
    app.out.records(data, (_("id"), _("volunteer"), _("home branch"), _("earned"), _("redeemed"), _("balance")),
                    [(d["volunteer_id"], d["name"], d["home_branch"], d["earned"], d["redeemed"], d["balance"])
                     for d in data], title=_("points balances"))


@points.command("statement")
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.option("--from", "date_from", callback=date_option_callback, help="From this local date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=date_option_callback, help="To this local date, inclusive.")
@pass_app
def points_statement(app: AppContext, volunteer_ref: str, date_from: date | None, date_to: date | None) -> None:
    """Show a volunteer's ledger entries with the balance before and after.

    Example: roster points statement 13800138000 --from 2026-10-01 --to 2026-12-31
    """
    from scheduler.points import statement

    data = app.read(lambda s: statement(s, volunteer_ref, app.settings.tz, date_from, date_to).as_dict())
    app.out.result(data, _("points statement of {name} (#{id}): opening {opening}, closing {closing}").format(
        name=data["name"], id=data["volunteer_id"], opening=data["opening"], closing=data["closing"]))
    app.out.table((_("at"), _("entry"), _("points"), _("detail"), _("by"), _("via")),
                  [(e["at"], translate(e["kind"]), e["points"], _entry_detail(e), e["by"], e["via"])
                   for e in data["entries"]])


def _entry_detail(entry: dict[str, object]) -> str:
    if entry["kind"] == "redeemed":
        text = _("{centre}: {purpose}").format(centre=entry["centre"], purpose=entry["for"])
    else:
        text = _("attendance record #{id}, {minutes} min at {rate} an hour").format(
            id=entry["attendance_id"], minutes=entry["minutes"] or 0, rate=entry["rate"] or "0")
    return f"{text} ({entry['note']})" if entry["note"] else text


@points.command("redeem")
@click.argument("volunteer_ref", metavar="VOLUNTEER", type=RECORD_REF)
@click.argument("amount", metavar="N")
@click.option("--at", "centre", required=True, help="The service centre where the points are spent.")
@click.option("--for", "purpose", required=True, help="What they are spent on.")
@click.option("--by", default="", help="Who records it (default: your login name).")
@pass_app
def points_redeem(app: AppContext, volunteer_ref: str, amount: str, centre: str, purpose: str, by: str) -> None:
    """Spend N whole points at a service centre; never more than the balance.

    Example: roster points redeem 13800138000 5 --at 爱联社区党群服务中心 --for 大米一袋
    """
    from sqlalchemy.orm import Session

    from scheduler.points import balance_centi, points_text, redeem

    def work(s: Session) -> dict[str, object]:
        entry = redeem(s, volunteer_ref, amount, centre, purpose, by=by or default_by())
        return {"entry_id": entry.id, "volunteer_id": entry.volunteer_id, "points": points_text(-entry.amount_centi),
                "balance": points_text(balance_centi(s, entry.volunteer_id)), "centre": entry.centre,
                "for": entry.purpose, "by": entry.by}

    data = app.run(work)
    app.out.result(data, _("redeemed {points} points of volunteer #{id} at {centre} for {purpose}; "
                           "balance {balance}").format(points=data["points"], id=data["volunteer_id"],
                                                       centre=data["centre"], purpose=data["for"],
                                                       balance=data["balance"]))


@points.group("rate")
def points_rate() -> None:
    """Points per approved hour for each service kind, from a date on."""


@points_rate.command("set")
@click.argument("kind")
@click.argument("rate")
@click.option("--from", "effective_from", required=True, callback=date_option_callback,
              help="The first local date served at this rate (today or later).")
@click.option("--by", default="", help="Who sets it (default: your login name).")
@pass_app
def points_rate_set(app: AppContext, kind: str, rate: str, effective_from: date, by: str) -> None:
    """Set the points an approved hour of KIND earns, from a date on (never retroactive).

    Example: roster points rate set elderly_care 1.5 --from 2027-01-01
    """
    from sqlalchemy.orm import Session

    from scheduler.points import points_text, set_rate

    def work(s: Session) -> dict[str, object]:
        row = set_rate(s, kind, rate, effective_from, by=by or default_by(), tz=app.settings.tz)
        return {"kind": row.kind, "rate": points_text(row.rate_centi), "effective_from": row.effective_from.isoformat(),
                "set_by": row.set_by}

    data = app.run(work)
    app.out.result(data, _("{kind}: {rate} points an approved hour from {day}").format(
        kind=data["kind"], rate=data["rate"], day=data["effective_from"]))


@points_rate.command("list")
@pass_app
def points_rate_list(app: AppContext) -> None:
    """List the rates set, by service kind and date (1 point an hour before a kind's first)."""
    from scheduler.points import list_rates

    data = app.read(list_rates)
    app.out.records(data, (_("kind"), _("points an hour"), _("from"), _("set by")),
                    [(d["kind"], d["rate"], d["effective_from"], d["set_by"]) for d in data], title=_("points rates"))
