"""The week roster to print and pin on the service centre's wall: an Excel workbook (a sheet per
branch) and an A4 HTML page (a branch a page), in the language in force.

``printable_week`` reads the database once (through ``week_schedule``) into plain pages; the
builders (``build_workbook``, ``build_html``) take those pages and return bytes, no clock and no
database; ``write_printouts`` writes both files atomically. What reaches paper: the service centre,
the branch, the week, per day the occurrences with role, time and the names of who is on, open seats
marked. Never a phone or ID number, and a private service (a home visit) shows "入户探访", never the
address.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from scheduler.files import write_atomic
from scheduler.i18n import _, format_date, language, ngettext
from scheduler.models import Branch, Community, Service, Visibility
from scheduler.rosters.schedule import status_label, week_bounds, week_schedule

TEMPLATES = Path(__file__).with_name("templates")
#: Excel's sheet names: at most 31 characters, none of these, not blank, unique.
SHEET_NAME_MAX = 31
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class PrintRole:
    name: str
    people: tuple[str, ...]  # names only, each with its status when not confirmed
    open: int
    waitlist: tuple[str, ...]


@dataclass(frozen=True)
class PrintOccurrence:
    day: date
    start: time
    end: time
    title: str
    venue: str
    cancelled: bool
    roles: tuple[PrintRole, ...]


@dataclass
class PrintPage:
    """One branch (or a community's own services): one sheet, one printed page."""

    centre: str
    unit: str
    occurrences: list[PrintOccurrence] = field(default_factory=list)

    def days(self) -> list[tuple[date, list[PrintOccurrence]]]:
        by_day: dict[date, list[PrintOccurrence]] = {}
        for occurrence in self.occurrences:
            by_day.setdefault(occurrence.day, []).append(occurrence)
        return sorted(by_day.items())


@dataclass
class PrintableWeek:
    first: date
    last: date
    pages: list[PrintPage]

    @property
    def stem(self) -> str:
        """``roster-2026-W49``: the ISO week the files are named after."""
        year, week, _day = self.first.isocalendar()
        return f"roster-{year}-W{week:02d}"

    def week_label(self) -> str:
        return _("{first} to {last}").format(first=format_date(self.first, with_year=True),
                                            last=format_date(self.last))


def _centre(community: Community) -> str:
    return community.centre_name.strip() or community.name


def printable_week(session: Session, week: date, branch: str | None = None,
                   community: str | None = None, data: dict[str, Any] | None = None) -> PrintableWeek:
    """The week holding ``week`` as pages to print: a page per branch with occurrences that week
    (a community's own services on a page of the community's), in branch order. ``data``: that
    week's ``week_schedule`` when the caller has read it already (same filters)."""
    if data is None:
        data = week_schedule(session, week, branch=branch, community=community)
    slugs = sorted({o["service"] for o in data["occurrences"]})
    services = {s.slug: s for s in session.scalars(
        select(Service).where(Service.slug.in_(slugs))
        .options(joinedload(Service.branch), joinedload(Service.community)))} if slugs else {}
    pages: dict[tuple[str, int, int], PrintPage] = {}
    for occ in data["occurrences"]:
        service = services[occ["service"]]
        unit: Branch | Community = service.branch or service.community
        key = (service.community.slug, 0 if service.branch else 1, unit.id)  # branches in the order made
        page = pages.get(key)
        if page is None:
            page = pages[key] = PrintPage(centre=_centre(service.community), unit=unit.name)
        start = datetime.fromisoformat(occ["start"])
        end_text = occ["time"].split("-")[1]
        cancelled = occ["status"] == "cancelled"
        roles = tuple(PrintRole(
            name=role["name"],
            people=tuple(p["name"] if p["status"] == "confirmed"
                         else _("{name}({status})").format(name=p["name"], status=status_label(p["status"]))
                         for p in role["on"]),
            open=role["open"], waitlist=tuple(p["name"] for p in role["waitlist"]),
        ) for role in occ["roles"])
        page.occurrences.append(PrintOccurrence(
            day=start.date(), start=start.time().replace(tzinfo=None),
            end=time.fromisoformat(end_text), title=service.title,
            venue=service.venue if service.visibility == Visibility.PUBLIC else _("home visit"),
            cancelled=cancelled, roles=roles))
    first, last = week_bounds(week)
    return PrintableWeek(first, last, [pages[k] for k in sorted(pages)])


# --------------------------------------------------------------------------- text helpers

def open_label(count: int) -> str:
    return ngettext("{n} seat open", "{n} seats open", count).format(n=count)


def people_text(role: PrintRole) -> str:
    return _(", ").join(role.people)


def display_width(text: str) -> int:
    """Columns ``text`` takes: a Chinese character is two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def sheet_names(units: list[str]) -> list[str]:
    """Excel-safe, unique sheet names for these branch names (in order)."""
    names: list[str] = []
    taken: set[str] = set()
    for unit in units:
        base = _SHEET_FORBIDDEN.sub("_", unit).strip().strip("'") or "Sheet"
        name, n = base[:SHEET_NAME_MAX], 1
        while name.lower() in taken:
            n += 1
            tail = f"({n})"
            name = base[:SHEET_NAME_MAX - len(tail)] + tail
        taken.add(name.lower())
        names.append(name)
    return names


# --------------------------------------------------------------------------- builders

def headers() -> tuple[str, ...]:
    return (_("Date"), _("Weekday"), _("Start"), _("End"), _("Service"), _("Venue"), _("Role"),
            _("On duty"), _("Open seats"), _("Waitlist"))


def _weekday(day: date) -> str:
    # format_date gives "12月2日（周三）" / "Wed 2 Dec": the weekday is its bracketed or first part
    text = format_date(day)
    return text[text.index("（") + 1:-1] if "（" in text else text.split(" ")[0]


def build_workbook(week: PrintableWeek) -> bytes:
    """The .xlsx: a sheet per page, a bold frozen header row, real dates and times, A4 landscape
    fitted to the width, the centre, branch and week in the printed header."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    date_format = 'yyyy"年"m"月"d"日"' if language() == "zh_CN" else "yyyy-mm-dd"
    bold, wrap = Font(bold=True), Alignment(vertical="top", wrap_text=True)
    open_fill = PatternFill("solid", fgColor="FFF2CC")
    head = headers()
    for page, name in zip(week.pages, sheet_names([p.unit for p in week.pages]), strict=True):
        sheet = workbook.create_sheet(name)
        sheet.append(head)
        for cell in sheet[1]:
            cell.font = bold
        widths = [display_width(h) for h in head]
        for occ in page.occurrences:
            for role in occ.roles:
                on = _("(cancelled)") if occ.cancelled else people_text(role)
                row: list[Any] = [occ.day, _weekday(occ.day), occ.start, occ.end,
                                  occ.title + (_(" (cancelled)") if occ.cancelled else ""), occ.venue,
                                  role.name, on, role.open, _(", ").join(role.waitlist)]
                sheet.append(row)
                cells = sheet[sheet.max_row]
                cells[0].number_format = date_format
                cells[2].number_format = cells[3].number_format = "hh:mm"
                for cell in cells:
                    cell.alignment = wrap
                if role.open:
                    cells[8].fill = open_fill
                    cells[8].font = bold
                shown = [len(date_format) - 6, *(display_width(str(v)) for v in row[1:])]
                widths = [max(w, s) for w, s in zip(widths, shown, strict=True)]
        for index, width in enumerate(widths, start=1):
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(width + 2, 60)
        sheet.freeze_panes = "A2"
        sheet.print_title_rows = "1:1"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.oddHeader.center.text = f"{page.centre} {page.unit} {week.week_label()}".replace("&", "&&")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def build_html(week: PrintableWeek) -> str:
    """The A4 page: a branch a printed page, the centre's name on top, per day the occurrences."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      keep_trailing_newline=True)
    template = env.get_template("roster_week.html")
    return template.render(
        week=week, lang="zh-CN" if language() == "zh_CN" else "en",
        format_date=format_date, open_label=open_label, people_text=people_text,
        text={
            "title": _("Volunteer roster"),
            "week": week.week_label(),
            "time": _("Time"), "service": _("Service"), "role": _("Role"), "on": _("On duty"),
            "waitlist": _("Waitlist"), "cancelled": _(" (cancelled)"), "sep": _(", "), "nobody": _("nobody yet"),
            "no_roles": _("no roles"),
        })


# --------------------------------------------------------------------------- files



def write_printouts(week: PrintableWeek, folder: Path) -> list[Path]:
    """``roster-YYYY-Www.xlsx`` and ``.html`` in ``folder`` (made if missing), written atomically."""
    xlsx, html = folder / f"{week.stem}.xlsx", folder / f"{week.stem}.html"
    write_atomic(xlsx, build_workbook(week))
    write_atomic(html, build_html(week).encode("utf-8"))
    return [xlsx, html]
