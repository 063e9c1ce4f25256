"""Skills and qualifications (技能/资质): one vocabulary, in Chinese and English.

A skill is stored under its English canonical name (``doctor``), so that stored rows and JSON stay
as they were; a coordinator may type it in either language (医生, 医师, Doctor) wherever a skill is
entered: a volunteer's skills (add, edit, CSV import) and a role's required skill. An unknown skill
is refused with the list. Matching (assign and fill checks) compares canonical names, reading older
rows leniently (``canonical_or_same``) so that nothing stored before this table stops matching.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scheduler.errors import InvalidInput
from scheduler.i18n import _, language


@dataclass(frozen=True)
class Skill:
    name: str  #: English canonical name, the stored value
    chinese: str  #: the Chinese name shown to coordinators
    aliases: tuple[str, ...] = ()  #: other spellings accepted on input, either language


#: The vocabulary. Add a row here (never rename ``name``: it is what rows and JSON hold).
SKILLS: tuple[Skill, ...] = (
    Skill("doctor", "医生", ("医师", "大夫", "physician")),
    Skill("nurse", "护士", ("护理", "护师")),
    Skill("tutor", "辅导员", ("老师", "教师", "辅导老师", "teacher")),
    Skill("reader", "领读员", ("阅读", "领读", "阅读推广", "reading")),
    Skill("lawyer", "律师", ("法律", "法律顾问", "legal")),
    Skill("counsellor", "心理咨询师", ("心理咨询", "心理", "counselor", "psychologist")),
    Skill("lecturer", "讲师", ("宣讲", "宣讲员", "speaker")),
    Skill("first_aid", "急救", ("急救员", "first-aid", "firstaid")),
    Skill("calligraphy", "书法", ("书法家",)),
    Skill("dance", "舞蹈", ("dancer", "dancing")),
    Skill("performer", "文艺", ("表演", "演出", "演员")),
    Skill("barber", "理发师", ("理发",)),
    Skill("cooking", "烹饪", ("厨师", "cook")),
    Skill("driver", "司机", ("驾驶", "driving")),
    Skill("photographer", "摄影", ("摄影师", "photography")),
    Skill("social_worker", "社工", ("社会工作者", "social-worker")),
    Skill("sign_language", "手语", ("sign-language",)),
    Skill("translator", "翻译", ("interpreter",)),
)

_LOOKUP: dict[str, str] = {}
for _skill in SKILLS:
    for _spelling in (_skill.name, _skill.chinese, *_skill.aliases):
        _key = _spelling.strip().lower()
        if _LOOKUP.setdefault(_key, _skill.name) != _skill.name:
            raise AssertionError(f"skill spelling {_spelling!r} names two skills")


def known_skills() -> str:
    """The vocabulary in one line, for messages: ``doctor 医生, nurse 护士, ...``."""
    return ", ".join(f"{s.name} {s.chinese}" for s in SKILLS)


def canonical_skill(value: str, field: str = "skills") -> str:
    """The stored (English) name of a skill typed in either language; unknown: InvalidInput (exit 4)."""
    key = value.strip().lower()
    found = _LOOKUP.get(key)
    if found is None:
        raise InvalidInput(field, _("unknown skill {value}; known skills: {known} (`roster skills` lists them)").format(
            value=repr(value.strip()), known=known_skills()))
    return found


def canonical_skills(values: Iterable[str], field: str = "skills") -> list[str]:
    """Sorted, de-duplicated stored names (医生 and doctor are one skill)."""
    return sorted({canonical_skill(value, field) for value in values if value.strip()})


def canonical_or_same(value: str) -> str:
    """For matching stored values: a known spelling's canonical name, anything else lowercased as stored."""
    key = str(value).strip().lower()
    return _LOOKUP.get(key, key)


def skill_label(name: str) -> str:
    """A stored skill as a person reads it: its Chinese name in Chinese, the English name otherwise."""
    if language() == "zh_CN":
        found = _BY_NAME.get(canonical_or_same(name))
        return found.chinese if found else name
    return name


_BY_NAME = {s.name: s for s in SKILLS}


def skills_as_dicts() -> list[dict[str, Any]]:
    return [{"name": s.name, "chinese": s.chinese, "aliases": list(s.aliases)} for s in SKILLS]
