"""roster skills: the skills a volunteer or a role can name."""

from __future__ import annotations

from cli import AppContext, command, pass_app
from scheduler.i18n import _


@command("skills")
@pass_app
def skills_command(app: AppContext) -> None:
    """List the skills a volunteer or a role can name, in Chinese and English.

    Either name may be typed (医生 or doctor); the English name is stored.
    """
    from scheduler.volunteers.skills import skills_as_dicts

    data = skills_as_dicts()
    app.out.records(data, (_("skill"), "中文", _("also accepted")),
                    [(d["name"], d["chinese"], ", ".join(d["aliases"])) for d in data])
