"""Reminder text, in Chinese: service, local time, venue and role.

Two audiences. A personal message (console, email, SMS) goes to one volunteer. A group message
(WeCom and DingTalk robots post into a group chat) carries no volunteer name or phone and nothing
about beneficiaries: only the public facts of the shift, worded for "the volunteers on this shift".
The coordinator's reason for a move or cancellation goes into personal messages only (it may name
a person: "王医生生病"); an auto-fill's many new shifts for one volunteer make one "assigned" notice.
Pure functions: data in, text out, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

WEEKDAYS = "一二三四五六日"

#: Words for the change notices (``Reminder.kind`` prefix before the first colon).
CHANGE_WORDS = {
    "moved": "时间调整",
    "cancelled": "已取消",
    "role_changed": "岗位调整",
    "unassigned": "排班取消",
    "promoted": "候补转正",
    "assigned": "新排班",
    "reinstated": "恢复开展",
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


def local_time(moment: datetime, timezone: str) -> str:
    """``12月7日（周一）16:30`` in the service's zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.month}月{local.day}日（周{WEEKDAYS[local.weekday()]}）{local:%H:%M}"


def _span(facts: ShiftFacts) -> str:
    end = facts.end_at.astimezone(ZoneInfo(facts.timezone))
    return f"{local_time(facts.start_at, facts.timezone)}-{end:%H:%M}"


def _details(facts: ShiftFacts) -> str:
    lines = [f"时间：{_span(facts)}"]
    if facts.venue:
        lines.append(f"地点：{facts.venue}")
    if facts.role:
        lines.append(f"岗位：{facts.role}")
    return "\n".join(lines)


def change_of(kind: str) -> str | None:
    """``moved:3:0`` -> ``moved``; ``before:120`` -> None."""
    head = kind.split(":", 1)[0]
    return head if head in CHANGE_WORDS else None


def starts_words(facts: ShiftFacts) -> str:
    """``将于12月7日（周一）16:30开始``: the start itself, never "tomorrow" -- a reminder can go out
    early or late (quiet hours, a late assignment, a retry), and relative words would then lie."""
    return f"将于{local_time(facts.start_at, facts.timezone)}开始"


def personal_message(kind: str, facts: ShiftFacts, link: str | None = None) -> MessageText:
    """The text for one volunteer (console, email, SMS), ending with their personal link when given."""
    text = _personal_message(kind, facts)
    if link:
        action = "确认或请假" if change_of(kind) in (None, "assigned", "promoted", "moved", "reinstated") else "查看排班"
        return MessageText(text.subject, f"{text.body}\n{action}：{link}")
    return text


def _personal_message(kind: str, facts: ShiftFacts) -> MessageText:
    title = facts.service_title
    change = change_of(kind)
    if change is None:
        subject = f"【志愿服务提醒】{title} {local_time(facts.start_at, facts.timezone)}"
        body = (f"您好！您参加的志愿服务「{title}」{starts_words(facts)}，请准时到岗。\n"
                f"{_details(facts)}\n感谢您的付出！")
        return MessageText(subject, body)
    word = CHANGE_WORDS[change]
    subject = f"【排班变更·{word}】{title}"
    if change == "moved":
        old = (f"原定 {local_time(facts.old_start_at, facts.timezone)}，"
               if facts.old_start_at is not None else "")
        lead = f"您参加的志愿服务「{title}」时间已调整，{old}现改为："
    elif change == "cancelled":
        lead = f"您参加的志愿服务「{title}」本场已取消，无需到岗。原定安排："
    elif change == "role_changed":
        lead = f"您在志愿服务「{title}」中的岗位已调整，最新安排："
    elif change == "unassigned":
        lead = f"您在志愿服务「{title}」本场的排班已取消，无需到岗。原定安排："
    elif change == "assigned":
        return _assigned_message(facts)
    elif change == "reinstated":
        # The seat was kept while a closure cancelled the shift; the closure was lifted.
        lead = (f"您参加的志愿服务「{title}」本场恢复开展，您的排班保留，请准时到岗"
                f"（如不能参加，请尽早告知协调人）：")
    else:
        lead = f"好消息！您已从候补转为志愿服务「{title}」的正式排班："
    body = f"您好！{lead}\n{_details(facts)}"
    if change in REASONED and facts.reason:
        body += f"\n原因：{facts.reason}"
    return MessageText(subject, body)


def _assigned_message(facts: ShiftFacts) -> MessageText:
    """One notice for all of a volunteer's new shifts (an auto-fill may give several at once)."""
    shifts = (facts, *facts.also)
    if len(shifts) == 1:
        subject = f"【排班通知·新排班】{facts.service_title}"
        body = f"您好！您已被安排参加志愿服务「{facts.service_title}」：\n{_details(facts)}"
    else:
        subject = f"【排班通知·新排班】共{len(shifts)}场"
        parts = [f"您好！您已被安排参加以下{len(shifts)}场志愿服务："]
        parts += [f"{n}. 「{shift.service_title}」\n{_details(shift)}" for n, shift in enumerate(shifts, 1)]
        body = "\n".join(parts)
    return MessageText(subject, body + "\n如不能参加，请尽早告知协调人。感谢您的付出！")


def group_message(kind: str, facts: ShiftFacts) -> str:
    """The text for a group robot: public shift facts only (no name, phone, beneficiary)."""
    title = facts.service_title
    change = change_of(kind)
    if change is None:
        head = f"【志愿服务提醒】「{title}」{starts_words(facts)}，请本场排班的志愿者准时到岗。"
    elif change == "moved":
        head = f"【场次变更·时间调整】「{title}」时间已调整，请本场排班的志愿者留意新时间。"
    elif change == "cancelled":
        head = f"【场次变更·已取消】「{title}」本场已取消，排班的志愿者无需到岗。"
    elif change == "reinstated":
        head = f"【场次变更·恢复开展】「{title}」本场恢复开展，请本场排班的志愿者准时到岗。"
    else:
        # Who was promoted, unassigned or moved between roles concerns one person: the group only
        # learns that the shift's roster changed, never whose.
        head = f"【排班变更】「{title}」本场排班有调整，请相关志愿者查看个人日程。"
    lines = [head, f"时间：{_span(facts)}"]
    if facts.venue:
        lines.append(f"地点：{facts.venue}")
    return "\n".join(lines)


def sms_params(kind: str, facts: ShiftFacts, link: str | None = None) -> dict[str, str]:
    """Template parameters for an SMS provider (Aliyun/Tencent send templates, not free text);
    ``link``, the personal link, when there is one (about 50 characters)."""
    params = {
        "service": facts.service_title[:20],
        "time": local_time(facts.start_at, facts.timezone),
        "venue": facts.venue[:20],
        "role": facts.role[:10],
        "change": CHANGE_WORDS.get(change_of(kind) or "", "提醒"),
    }
    if link:
        params["link"] = link
    return params


def satisfaction_line(count: int, mean: float, satisfied: float) -> str:
    """``过去一周服务评价 12 条，平均 4.6 分，满意（4-5 星）占 92%。`` (counts only, no comment)."""
    return f"过去一周服务评价 {count} 条，平均 {mean:.1f} 分，满意（4-5 星）占 {satisfied:.0%}。"


def digest_text(week_label: str, rows: list[tuple[str, str, str, int]],
                satisfaction: tuple[int, float, float] | None = None) -> MessageText:
    """Weekly digest: (service, local time, role, open seats) rows for next week; then, when the
    past week had ratings, the satisfaction line: (count, mean stars, share of 4-5 stars)."""
    rated = f"\n{satisfaction_line(*satisfaction)}" if satisfaction and satisfaction[0] else ""
    subject = f"【排班周报】{week_label} 尚有空缺岗位 {sum(r[3] for r in rows)} 个"
    if not rows:
        return MessageText(f"【排班周报】{week_label} 岗位已全部排满", f"{week_label} 所有场次岗位均已排满。{rated}")
    lines = [f"{week_label} 以下场次仍有空缺，请尽快安排："]
    lines += [f"- {service} {when} {role}：缺 {open_seats} 人" for service, when, role, open_seats in rows]
    return MessageText(subject, "\n".join(lines) + rated)


def horizon_warning_text(years: list[int], horizon_end: str) -> MessageText:
    """Daily warning: the planning horizon reaches years without official holiday data."""
    year_words = "、".join(f"{y}年" for y in years)
    subject = f"【节假日数据提醒】{year_words}的法定节假日安排尚未导入"
    body = (f"排班计划已延伸至 {horizon_end}，其中 {year_words} 尚无国务院办公厅发布的节假日安排，"
            f"相关场次按普通星期规则排定并标记为“暂定”。发布后请导入该年度安排，"
            f"系统将重新排定受影响的场次并通知已排班的志愿者。")
    return MessageText(subject, body)
