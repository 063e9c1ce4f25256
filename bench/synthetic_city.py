"""A deterministic synthetic city for benchmarks: communities, branches, services, roles, volunteers.

Rows go in with SQLAlchemy core ``insert()`` in large batches (one ``executemany`` per chunk),
with explicit ids so no round trip is needed to learn them; PostgreSQL sequences are moved past
the ids afterwards so the ORM can keep inserting. The same ``seed`` and sizes give the same city.

Usage::

    python bench/synthetic_city.py --branches 5000 --services 50000 --volunteers 300000 \\
        --url sqlite:///var/city.db
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, func, inspect, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.models import Branch, Community, Role, Service, Volunteer  # noqa: E402

CHUNK = 5000
CREATED = datetime(2026, 1, 1, tzinfo=UTC)

_PLACES = "爱联 龙岗 龙城 回龙埔 尚景 盛平 嶂背 五联 愉园 紫薇 黄阁 吉祥 横岗 宝龙 龙西 新联 南联 东升 阳光 和谐".split()
_ESTATES = "顺景 紫麓 碧湖 御景 龙福 中海 万科 华润 星河 金地 盛龙 天健 海航 怡翠 锦绣 丽湖 翠湖 名居 雅苑 怡景".split()
_ESTATE_SUFFIX = ("花园", "小区", "家园", "新村", "名苑")
_SURNAMES = "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹".split()
_GIVEN = "芳 伟 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平 刚 桂 英 华 玉 兰 文 建 国 红".split()
_OTHER_SKILLS = ("first_aid", "reading", "legal", "calligraphy", "dance", "photography", "driving", "cooking")

#: (kind, title, venue suffix, role specs [(name, count, skill)], visibility, weight)
_SERVICE_KINDS: tuple[tuple[str, str, str, tuple[tuple[str, int, str | None], ...], str, int], ...] = (
    ("clinic", "义诊", "党群服务中心", (("医生", 2, "doctor"), ("护士", 2, "nurse"), ("引导员", 2, None)),
     "public", 10),
    ("classroom", "四点半课堂", "党群活动室", (("辅导员", 3, "tutor"), ("看护", 1, None)), "public", 25),
    ("elderly_care", "关爱空巢老人入户探访", "入户", (("探访员", 2, None),), "private", 15),
    ("reading", "亲子阅读", "社区图书角", (("领读员", 2, "reading"), ("志愿者", 2, None)), "public", 12),
    ("centre_opening", "党群服务中心错时服务", "党群服务中心", (("值班员", 2, None),), "public", 15),
    ("culture", "书画兴趣班", "文化活动室", (("老师", 1, "calligraphy"), ("助教", 1, None)), "public", 8),
    ("legal", "法治宣传咨询", "党群服务中心", (("律师", 1, "legal"), ("志愿者", 1, None)), "public", 5),
    ("community", "邻里互助服务", "小区广场", (("志愿者", 4, None),), "public", 10),
)

#: (rrule, weight, typical holiday policy)
_RULES: tuple[tuple[str, int, str], ...] = (
    ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", 20, "workdays"),
    ("FREQ=WEEKLY;BYDAY=SA", 20, "skip_holidays"),
    ("FREQ=WEEKLY;BYDAY=SU", 10, "always"),
    ("FREQ=WEEKLY;BYDAY=TU,TH", 10, "skip_holidays"),
    ("FREQ=WEEKLY;BYDAY=MO,WE,FR", 8, "workdays"),
    ("FREQ=MONTHLY;BYDAY=2SA", 10, "always"),
    ("FREQ=MONTHLY;BYDAY=-1FR", 5, "skip_holidays"),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=SU", 7, "always"),
    ("FREQ=DAILY", 3, "always"),
    ("FREQ=MONTHLY;BYMONTHDAY=15", 4, "skip_holidays"),
    ("FREQ=WEEKLY;BYDAY=SA,SU", 3, "always"),
)
_TIMES = ("08:30", "09:00", "09:30", "10:00", "14:00", "14:30", "15:00", "16:30", "19:00", "19:30")
_DURATIONS = (60, 90, 120, 120, 150, 180, 240)


@dataclass
class CityStats:
    """What ``build_city`` wrote, and how long it took."""

    communities: int
    branches: int
    services: int
    roles: int
    volunteers: int
    seconds: float
    first_ids: dict[str, int]


def _chunks(rows: Iterable[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _weighted(rng: random.Random, items: tuple[Any, ...], weights: list[int]) -> Any:
    return rng.choices(items, weights=weights, k=1)[0]


def _next_id(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


def _insert(engine: Engine, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with engine.begin() as conn:
        for batch in _chunks(rows):
            conn.execute(table.insert(), batch)
            count += len(batch)
    return count


def _fix_sequences(engine: Engine, tables: Iterable[Table]) -> None:
    """Explicit ids leave PostgreSQL's serial sequences behind; move them past the max id."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table.name}))"
            ))


def _ensure_schema(engine: Engine) -> None:
    if not inspect(engine).has_table("service"):
        from scheduler.migrate import upgrade

        upgrade(engine)


def build_city(engine: Engine, branches: int = 5000, services: int = 50000, volunteers: int = 300000,
               seed: int = 0, communities: int | None = None) -> CityStats:
    """Bulk-insert a deterministic synthetic city into the (migrated or empty) database at ``engine``.

    Communities default to ``branches / 8``. Slugs carry the seed (``s{seed}-...``) so two cities with
    different seeds can share a database; the same seed twice collides on the unique slugs.
    """
    started = time.perf_counter()
    _ensure_schema(engine)
    rng = random.Random(seed)
    n_comm = communities if communities is not None else max(1, branches // 8)
    tag = f"s{seed}"
    community_t: Table = Community.__table__  # type: ignore[assignment]
    branch_t: Table = Branch.__table__  # type: ignore[assignment]
    service_t: Table = Service.__table__  # type: ignore[assignment]
    role_t: Table = Role.__table__  # type: ignore[assignment]
    volunteer_t: Table = Volunteer.__table__  # type: ignore[assignment]

    c0 = _next_id(engine, community_t)
    b0 = _next_id(engine, branch_t)
    s0 = _next_id(engine, service_t)
    r0 = _next_id(engine, role_t)
    v0 = _next_id(engine, volunteer_t)

    def community_rows() -> Iterator[dict[str, Any]]:
        for i in range(n_comm):
            name = f"{_PLACES[i % len(_PLACES)]}{i // len(_PLACES) + 1 if i >= len(_PLACES) else ''}社区"
            yield {"id": c0 + i, "slug": f"{tag}-c{i:05d}", "name": name, "centre_name": f"{name}党群服务中心",
                   "centre_address": f"龙岗区{name}服务路{i + 1}号", "created_at": CREATED}

    branch_community: list[int] = [c0 + rng.randrange(n_comm) if i >= n_comm else c0 + i for i in range(branches)]

    def branch_rows() -> Iterator[dict[str, Any]]:
        for i in range(branches):
            estate = f"{_ESTATES[i % len(_ESTATES)]}{_ESTATE_SUFFIX[(i // len(_ESTATES)) % len(_ESTATE_SUFFIX)]}"
            number = i // (len(_ESTATES) * len(_ESTATE_SUFFIX))
            name = f"{estate}{'' if number == 0 else f'{number + 1}期'}党支部"
            yield {"id": b0 + i, "slug": f"{tag}-b{i:05d}", "name": name,
                   "community_id": branch_community[i], "secretary_title": "第一书记", "created_at": CREATED}

    kind_weights = [k[5] for k in _SERVICE_KINDS]
    rule_weights = [r[1] for r in _RULES]
    service_rows: list[dict[str, Any]] = []
    role_rows: list[dict[str, Any]] = []
    for i in range(services):
        kind, title, venue_suffix, roles, visibility, _ = _weighted(rng, _SERVICE_KINDS, kind_weights)
        rule, _, policy = _weighted(rng, _RULES, rule_weights)
        if rng.random() < 0.25:
            policy = rng.choice(("always", "skip_holidays", "workdays"))
        # One service in twenty is run by the community's own Party committee.
        if rng.random() < 0.05:
            branch_id = None
            community_id = c0 + rng.randrange(n_comm)
        else:
            b = rng.randrange(branches)
            branch_id = b0 + b
            community_id = branch_community[b]
        sid = s0 + i
        service_rows.append({
            "id": sid, "slug": f"{tag}-v{i:06d}", "title": title, "kind": kind,
            "community_id": community_id, "branch_id": branch_id,
            "venue": "居民家中" if visibility == "private" else f"{venue_suffix}{rng.randint(1, 9)}楼",
            "rrule": rule, "start_date": date(2026, 1, 1 + rng.randrange(28)),
            "start_time": rng.choice(_TIMES), "duration_minutes": rng.choice(_DURATIONS),
            "timezone": "Asia/Shanghai", "holiday_policy": policy, "visibility": visibility,
            "contact_role": "支部第一书记" if branch_id else "社区党委", "description": f"{title}（合成数据）",
            "reminder_offsets": [1440, 120], "active": True, "created_at": CREATED, "updated_at": CREATED,
        })
        for name, count, skill in roles:
            role_rows.append({"id": r0 + len(role_rows), "service_id": sid, "name": name,
                              "count": max(1, count + rng.randint(-1, 1)), "skill": skill})

    def volunteer_rows() -> Iterator[dict[str, Any]]:
        for i in range(volunteers):
            roll = rng.random()
            skills: list[str] = []
            if roll < 0.04:
                skills.append("doctor")
            elif roll < 0.10:
                skills.append("nurse")
            elif roll < 0.25:
                skills.append("tutor")
            if rng.random() < 0.4:
                skills.append(rng.choice(_OTHER_SKILLS))
            pattern = rng.random()
            if pattern < 0.3:
                availability: dict[str, list[str]] = {}
            elif pattern < 0.6:
                availability = {str(d): ["16:00-21:00"] for d in range(1, 6)}
                availability.update({"6": ["08:00-18:00"], "7": ["08:00-18:00"]})
            elif pattern < 0.8:
                availability = {"6": ["08:00-12:00", "14:00-18:00"], "7": ["08:00-12:00"]}
            else:
                availability = {str(d): ["08:00-17:00"] for d in range(1, 8)}
            token = base64.urlsafe_b64encode(rng.getrandbits(192).to_bytes(24, "big")).decode()
            yield {
                "id": v0 + i,
                "name": f"{rng.choice(_SURNAMES)}{rng.choice(_GIVEN)}{rng.choice(_GIVEN) if rng.random() < 0.6 else ''}",
                # 15x numbers: unique per (seed, i) and apart from the 139 numbers tests use.
                "phone": f"15{seed % 10}{(v0 + i) % 10**8:08d}",
                "email": None, "chat_id": None, "id_number": None,
                "home_branch_id": b0 + rng.randrange(branches),
                "skills": sorted(set(skills)), "availability": availability, "blackout_dates": [],
                "monthly_cap_hours": rng.choice((None, None, 8, 16, 24)),
                "preferred_channel": None, "active": True, "feed_token": token, "retired_feed_token": None,
                "created_at": CREATED, "updated_at": CREATED,
            }

    _insert(engine, community_t, community_rows())
    _insert(engine, branch_t, branch_rows())
    _insert(engine, service_t, service_rows)
    _insert(engine, role_t, role_rows)
    _insert(engine, volunteer_t, volunteer_rows())
    _fix_sequences(engine, (community_t, branch_t, service_t, role_t, volunteer_t))
    return CityStats(
        communities=n_comm, branches=branches, services=services, roles=len(role_rows), volunteers=volunteers,
        seconds=time.perf_counter() - started,
        first_ids={"community": c0, "branch": b0, "service": s0, "role": r0, "volunteer": v0},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--branches", type=int, default=5000)
    parser.add_argument("--services", type=int, default=50000)
    parser.add_argument("--volunteers", type=int, default=300000)
    parser.add_argument("--communities", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default="sqlite:///var/city.db", help="database URL (migrated if empty)")
    args = parser.parse_args(argv)
    from scheduler.db import make_engine

    if args.url.startswith("sqlite:///"):
        Path(args.url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(args.url)
    stats = build_city(engine, args.branches, args.services, args.volunteers, args.seed, args.communities)
    engine.dispose()
    for key, value in asdict(stats).items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
