"""Reminder text, in the language of the people it goes to (``ROSTER_MESSAGE_LANG``, Chinese by
default; never the operator's ``ROSTER_LANG``): service, local time, venue and role. The ids are
English; the Chinese catalog holds the texts volunteers read.

Two audiences. A personal message (console, email, SMS) goes to one volunteer. A group message
(WeCom and DingTalk robots post into a group chat) carries no volunteer name or phone and nothing
about beneficiaries: only the public facts of the shift, worded for "the volunteers on this shift".
The coordinator's reason for a move or cancellation goes into personal messages only (it may name
a person: "王医生生病"); an auto-fill's many new shifts for one volunteer make one "assigned" notice.
Pure functions: data in, text out, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from scheduler.i18n import N_, _, format_date, format_datetime, language, ngettext, to_people, translate

#: Words for the change notices (``Reminder.kind`` prefix before the first colon); message ids,
#: translated where they are shown.
CHANGE_WORDS = {
    "moved": N_("rescheduled"),
    "cancelled": N_("cancelled"),
    "role_changed": N_("role changed"),
    "unassigned": N_("shift cancelled"),
    "promoted": N_("off the waiting list"),
    "assigned": N_("new shift"),
    "reinstated": N_("takes place again"),
}
#: Changes whose notice carries the coordinator's reason (``--reason``): a private message only.
#: An "unassigned" notice has one only when a confirmation deadline released the seat.
REASONED = ("moved", "cancelled", "unassigned")


@dataclass(frozen=True)
class ShiftFacts:
    """The public facts of one shift, plus the role; no personal data."""

    service_title: str
    start_at: datetime
    end_at: datetime
    timezone: str
    venue: str
    role: str
    occurrence_cancelled: bool = False
    #: For a "moved" notice: where the shift was before (aware UTC), when known.
    old_start_at: datetime | None = None
    #: The coordinator's reason for a move or cancellation (personal messages only: it may name people).
    reason: str = ""
    #: For an "assigned" notice: the volunteer's other new shifts, told in the same message.
    also: tuple[ShiftFacts, ...] = ()


@dataclass(frozen=True)
class MessageText:
    subject: str
    body: str


def format_day(day: date) -> str:
    """``12月7日`` (``7 Dec`` in English): a day in a span that names its weekdays elsewhere."""
    if language() == "zh_CN":
        return f"{day.month}月{day.day}日"
    return format_date(day).split(" ", 1)[1]  # "Mon 7 Dec" -> "7 Dec"


def local_time(moment: datetime, timezone: str) -> str:
    """``12月7日（周一）16:30`` in the service's zone (``Mon 7 Dec 16:30`` in English)."""
    return format_datetime(moment, ZoneInfo(timezone))


def _span(facts: ShiftFacts) -> str:
    end = facts.end_at.astimezone(ZoneInfo(facts.timezone))
    return f"{local_time(facts.start_at, facts.timezone)}-{end:%H:%M}"


def _details(facts: ShiftFacts) -> str:
    lines = [_("Time: {span}").format(span=_span(facts))]
    if facts.venue:
        lines.append(_("Venue: {venue}").format(venue=facts.venue))
    if facts.role:
        lines.append(_("Role: {role}").format(role=facts.role))
    return "\n".join(lines)


def change_of(kind: str) -> str | None:
    """``moved:3:0`` -> ``moved``; ``before:120`` -> None."""
    head = kind.split(":", 1)[0]
    return head if head in CHANGE_WORDS else None


def starts_words(facts: ShiftFacts) -> str:
    """``将于12月7日（周一）16:30开始``: the start itself, never "tomorrow" -- a reminder can go out
    early or late (quiet hours, a late assignment, a retry), and relative words would then lie."""
    return _("starts at {time}").format(time=local_time(facts.start_at, facts.timezone))


@to_people
def personal_message(kind: str, facts: ShiftFacts, link: str | None = None) -> MessageText:
    """The text for one volunteer (console, email, SMS), ending with their personal link when given."""
    text = _personal_message(kind, facts)
    if link:
        action = (_("Confirm or ask for leave") if change_of(kind) in (None, "assigned", "promoted", "moved",
                                                                       "reinstated") else _("See your shifts"))
        return MessageText(text.subject, f"{text.body}\n" + _("{action}: {link}").format(action=action, link=link))
    return text


def _personal_message(kind: str, facts: ShiftFacts) -> MessageText:
    title = facts.service_title
    change = change_of(kind)
    if change is None:
        subject = _("[Volunteer reminder] {title} {time}").format(
            title=title, time=local_time(facts.start_at, facts.timezone))
        body = _("Hello! Your volunteer service “{title}” {starts}; please be on time.\n{details}\n"
                 "Thank you for your service!").format(title=title, starts=starts_words(facts),
                                                        details=_details(facts))
        return MessageText(subject, body)
    word = translate(CHANGE_WORDS[change])
    subject = _("[Roster change · {word}] {title}").format(word=word, title=title)
    if change == "moved" and facts.old_start_at is not None:
        lead = _("The time of your volunteer service “{title}” has changed, it was {old}; now:").format(
            title=title, old=local_time(facts.old_start_at, facts.timezone))
    elif change == "moved":
        lead = _("The time of your volunteer service “{title}” has changed; now:").format(title=title)
    elif change == "cancelled":
        lead = _("This session of your volunteer service “{title}” is cancelled; no need to come. "
                 "It was:").format(title=title)
    elif change == "role_changed":
        lead = _("Your role in the volunteer service “{title}” has changed; now:").format(title=title)
    elif change == "unassigned":
        lead = _("Your shift at this session of the volunteer service “{title}” is cancelled; no need to "
                 "come. It was:").format(title=title)
    elif change == "assigned":
        return _assigned_message(facts)
    elif change == "reinstated":
        # The seat was kept while a closure cancelled the shift; the closure was lifted.
        lead = _("This session of your volunteer service “{title}” takes place again and your shift is kept; "
                 "please be on time (if you cannot come, tell your coordinator soon):").format(title=title)
    else:
        lead = _("Good news! You moved from the waiting list onto the roster of the volunteer service "
                 "“{title}”:").format(title=title)
    body = _("Hello! {lead}\n{details}").format(lead=lead, details=_details(facts))
    if change in REASONED and facts.reason:
        body += "\n" + _("Reason: {reason}").format(reason=facts.reason)
    return MessageText(subject, body)


def _assigned_message(facts: ShiftFacts) -> MessageText:
    """One notice for all of a volunteer's new shifts (an auto-fill may give several at once)."""
    shifts = (facts, *facts.also)
    if len(shifts) == 1:
        subject = _("[Roster notice · new shift] {title}").format(title=facts.service_title)
        body = _("Hello! You are on the roster of the volunteer service “{title}”:\n{details}").format(
            title=facts.service_title, details=_details(facts))
    else:
        # Two or more shifts here: the plural form is always the "many" one.
        subject = _("[Roster notice · new shifts] {count} shifts").format(count=len(shifts))
        parts = [_("Hello! You are on the roster of these {count} volunteer services:").format(count=len(shifts))]
        parts += [_("{n}. “{title}”\n{details}").format(n=n, title=shift.service_title, details=_details(shift))
                  for n, shift in enumerate(shifts, 1)]
        body = "\n".join(parts)
    return MessageText(subject, body + "\n" + _("If you cannot come, tell your coordinator soon. "
                                                 "Thank you for your service!"))


@to_people
def group_message(kind: str, facts: ShiftFacts) -> str:
    """The text for a group robot: public shift facts only (no name, phone, beneficiary)."""
    title = facts.service_title
    change = change_of(kind)
    if change is None:
        head = _("[Volunteer reminder] “{title}” {starts}; volunteers on this shift, please be on "
                 "time.").format(title=title, starts=starts_words(facts))
    elif change == "moved":
        head = _("[Session change · rescheduled] The time of “{title}” has changed; volunteers on this shift, "
                 "please note the new time.").format(title=title)
    elif change == "cancelled":
        head = _("[Session change · cancelled] This session of “{title}” is cancelled; the volunteers on it "
                 "need not come.").format(title=title)
    elif change == "reinstated":
        head = _("[Session change · takes place again] This session of “{title}” takes place again; "
                 "volunteers on this shift, please be on time.").format(title=title)
    else:
        # Who was promoted, unassigned or moved between roles concerns one person: the group only
        # learns that the shift's roster changed, never whose.
        head = _("[Roster change] The roster of this session of “{title}” has changed; the volunteers "
                 "concerned, please check your own schedule.").format(title=title)
    lines = [head, _("Time: {span}").format(span=_span(facts))]
    if facts.venue:
        lines.append(_("Venue: {venue}").format(venue=facts.venue))
    return "\n".join(lines)


@to_people
def sms_params(kind: str, facts: ShiftFacts, link: str | None = None) -> dict[str, str]:
    """Template parameters for an SMS provider (Aliyun/Tencent send templates, not free text);
    ``link``, the personal link, when there is one (about 50 characters)."""
    start = facts.start_at.astimezone(ZoneInfo(facts.timezone))
    params = {
        "service": facts.service_title[:20],
        "time": local_time(facts.start_at, facts.timezone),
        # The time in two shorter pieces, for accounts limited to 12 characters a variable:
        # 12月7日（周一） and 16:30.
        "date": format_date(start.date()),
        "clock": f"{start:%H:%M}",
        "venue": facts.venue[:20],
        "role": facts.role[:10],
        "change": translate(CHANGE_WORDS.get(change_of(kind) or "", N_("reminder"))),
    }
    if link:
        params["link"] = link
    return params


@to_people
def satisfaction_line(count: int, mean: float, satisfied: float) -> str:
    """``过去一周服务评价 12 条，平均 4.6 分，满意（4-5 星）占 92%。`` (counts only, no comment)."""
    return _("Ratings in the past week: {count}, mean {mean} stars, satisfied (4-5 stars) {share}.").format(
        count=count, mean=f"{mean:.1f}", share=f"{satisfied:.0%}")


@to_people
def digest_text(week_label: str, rows: list[tuple[str, str, str, int]],
                satisfaction: tuple[int, float, float] | None = None) -> MessageText:
    """Weekly digest: (service, local time, role, open seats) rows for next week; then, when the
    past week had ratings, the satisfaction line: (count, mean stars, share of 4-5 stars)."""
    rated = f"\n{satisfaction_line(*satisfaction)}" if satisfaction and satisfaction[0] else ""
    open_total = sum(r[3] for r in rows)
    subject = ngettext("[Weekly roster digest] {week}: {count} open seat", "[Weekly roster digest] {week}: {count} "
                       "open seats", open_total).format(week=week_label, count=open_total)
    if not rows:
        return MessageText(_("[Weekly roster digest] {week}: every seat is filled").format(week=week_label),
                           _("{week}: every seat of every session is filled.").format(week=week_label) + rated)
    lines = [_("{week}: these sessions still have open seats, please arrange them soon:").format(week=week_label)]
    lines += [_("- {service} {when} {role}: {count} missing").format(service=service, when=when, role=role,
                                                                      count=open_seats)
              for service, when, role, open_seats in rows]
    return MessageText(subject, "\n".join(lines) + rated)


@to_people
def horizon_warning_text(years: list[int], horizon_end: str) -> MessageText:
    """Daily warning: the planning horizon reaches years without official holiday data."""
    separator = "、" if language() == "zh_CN" else ", "
    year_words = separator.join(_("{year}").format(year=y) for y in years)
    subject = _("[Holiday data] the statutory holidays of {years} are not loaded yet").format(years=year_words)
    body = _("The plan now reaches {end}, and there is no holiday schedule from the General Office of the State "
             "Council for {years} yet: those sessions are planned by the plain weekday rule and marked "
             "“provisional”. When it is published, please load that year's schedule; the sessions concerned "
             "will be planned again and the volunteers on them told.").format(end=horizon_end, years=year_words)
    return MessageText(subject, body)
