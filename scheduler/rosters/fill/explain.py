"""Explaining a fill: the stored form of each choice, the lines ``roster why`` prints, and why a
seat was left open."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from scheduler.i18n import N_, _, translate
from scheduler.rosters import assignment_view, get_assignment
from scheduler.volunteers.eligibility import describe_span

RULE = ("own branch first, then the community; then fewest no-shows in 90 days, fewest minutes served "
        "(28 days before the run plus what is rostered), least recently served, lowest id")


def explanation_of(raw: tuple[Any, ...]) -> dict[str, Any]:
    """The stored form of a fill choice: tier, the winner's score, the pool, who was passed over and why,
    the next in line (eligible only) and the ineligible ones ranked among them, with their reason.
    A score is [no-shows, minutes served or rostered, last served (epoch s)]."""
    tier, key, pool, rejected, passed_over, runners, ruled_out = raw
    data: dict[str, Any] = {"method": "fill", "tier": tier, "score": list(key[:3]), "pool": pool}
    if rejected:
        data["rejected"] = rejected
    if passed_over:
        data["passed_over"] = [list(item) for item in passed_over]
    if runners:
        data["runners_up"] = [[r[3], r[0], r[1], r[2]] for r in runners]
    if ruled_out:
        data["ineligible_next"] = [list(item) for item in ruled_out]
    return data


def explanation_json(raw: tuple[Any, ...]) -> str:
    """``explanation_of(raw)`` as compact ASCII JSON, formatted directly: the same text the json
    module writes (a test holds them equal), at a fraction of the cost for a million rows."""
    tier, key, pool, rejected, passed_over, runners, ruled_out = raw
    parts = [f'{{"method":"fill","tier":{_js(tier)},"score":[{key[0]},{key[1]},{key[2]}],"pool":{pool}']
    if rejected:
        parts.append(',"rejected":{' + ",".join(f"{_js(why_not)}:{n}" for why_not, n in rejected.items()) + "}")
    if passed_over:
        parts.append(',"passed_over":[' + ",".join(f"[{vid},{_js(why_not)}]" for vid, why_not in passed_over) + "]")
    if runners:
        parts.append(',"runners_up":[' + ",".join(f"[{r[3]},{r[0]},{r[1]},{r[2]}]" for r in runners) + "]")
    if ruled_out:
        parts.append(',"ineligible_next":[' + ",".join(f"[{vid},{_js(why_not)}]" for vid, why_not in ruled_out)
                     + "]")
    parts.append("}")
    return "".join(parts)


_js = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


#: The checks a fill counts candidates out by (``rejected`` keys), as a person reads them.
CHECK_LABELS = {"blackout": N_("blackout"), "monthly cap": N_("monthly cap"), "overlap": N_("overlap"),
                "already on this occurrence": N_("already on this occurrence")}


def check_label(reason: str) -> str:
    """A fill check's name in the language in force (a reason from elsewhere as it is)."""
    label = CHECK_LABELS.get(reason)
    return translate(label) if label else reason


def open_reason(everyone: int, skilled: int, available_now: int, skill: str | None,
                span: tuple[int, str, str] | None, local_start: datetime, rejected: dict[str, int]) -> str:
    """Why seats were left open, in the language in force: of the community's ``everyone`` active
    volunteers, ``skilled`` had the skill and ``available_now`` of those the time free; ``rejected``
    counts the other checks. (The JSON form is this text in English: ``using("en")``.)"""
    if not everyone:
        return _("no active volunteers whose home branch is in this community")
    parts = [_("{n} active volunteers in the community").format(n=everyone)]
    if skill:
        parts.append(_("{n} lack skill {skill}").format(n=everyone - skilled, skill=skill))
    if skilled - available_now:
        parts.append(_("{n} not available {span}").format(n=skilled - available_now,
                                                           span=describe_span(span, local_start)))
    for why_not, count in sorted(rejected.items()):
        parts.append(_("{n} {check}").format(n=count, check=check_label(why_not)))
    return _("no eligible volunteer left: {parts}").format(parts=_(", ").join(parts))


def why(session: Session, assignment_id: str | int) -> dict[str, Any]:
    """The stored explanation of an assignment, and lines a coordinator reads."""
    assignment = get_assignment(session, assignment_id)
    view = assignment_view(assignment, with_name=True)
    data = view.as_json()
    explanation = assignment.explanation or {}
    lines = [f"assignment #{assignment.id}: {assignment.volunteer.name} (#{assignment.volunteer_id}) as "
             f"{view.role} at occurrence #{assignment.occurrence_id} ({view.service} "
             f"{view.local_start:%Y-%m-%d %H:%M}), {assignment.status}"]
    method = explanation.get("method")
    if method == "fill":
        tier = "the service's own branch" if explanation["tier"] == "branch" else "the community"
        lines.append(f"chosen by auto-fill from {tier}: {explanation['pool']} candidates had the skill and "
                     "the time free")
        lines.append(f"rule: {RULE}")
        lines.append(f"winner #{assignment.volunteer_id}: {_score_text(explanation['score'])}")
        for vid, why_not in explanation.get("passed_over", []):
            lines.append(f"passed over #{vid}: {why_not}")
        for count_reason, count in sorted(explanation.get("rejected", {}).items()):
            lines.append(f"candidates ruled out ({count_reason}): {count}")
        for vid, *score in explanation.get("runners_up", []):
            lines.append(f"next in line #{vid}: {_score_text(score)}")
        for vid, why_not in explanation.get("ineligible_next", []):
            lines.append(f"ranked next but not eligible #{vid}: {why_not}")
    elif method in ("manual", "swap", "handover"):
        lines.append({"manual": "assigned by a coordinator", "swap": "took this shift in a swap",
                      "handover": "took over this shift from another volunteer"}[method])
        for reason in explanation.get("overridden", []):
            lines.append(f"check overridden (--force): {reason}")
        if assignment.force_note:
            lines.append(f"note: {assignment.force_note}")
    else:
        lines.append("no explanation recorded")
    return {"assignment": data, "explanation": explanation, "lines": lines}


def _score_text(score: Sequence[int]) -> str:
    no_shows, minutes, last = score[0], score[1], score[2]
    last_text = datetime.fromtimestamp(last, UTC).date().isoformat() if last else "never"
    return f"{no_shows} no-shows, {minutes} min served or rostered, last served {last_text}"
