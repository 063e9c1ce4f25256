"""Recurrence rules: the Chinese listing text reads back to its rule, and rules that cannot be planned are refused
in bounded time."""

from __future__ import annotations

import time
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.errors import InvalidInput
from scheduler.services.recurrence import check_rule, describe, normalise_rrule, shorthand_to_rrule

CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
weekly = st.builds(
    lambda days, interval: "FREQ=WEEKLY" + (f";INTERVAL={interval}" if interval > 1 else "") + ";BYDAY=" + ",".join(days),
    st.lists(st.sampled_from(CODES), min_size=1, max_size=7, unique=True), st.integers(1, 8))
monthly = st.builds(lambda n, day: f"FREQ=MONTHLY;BYDAY={n}{day}", st.sampled_from([1, 2, 3, 4, 5, -1, -2, -3]),
                    st.sampled_from(CODES))
rules = st.one_of(st.just("FREQ=DAILY"), weekly, monthly,
                  st.sampled_from(["FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=12", "FREQ=MONTHLY;BYMONTHDAY=-1"]))


@given(rules)
def test_every_rules_listing_text_parses_back_to_the_same_rule(rule: str) -> None:
    listed = describe(rule)
    assert shorthand_to_rrule(listed) == rule
    assert normalise_rrule(shorthand_to_rrule(listed), date(2026, 9, 1)) == rule


@given(weekly)
def test_common_weekly_rules_are_listed_in_chinese(rule: str) -> None:
    assert describe(rule).startswith("每")
    assert "FREQ" not in describe(rule)


@pytest.mark.parametrize(("text", "rule"), [
    ("每周六", "FREQ=WEEKLY;BYDAY=SA"),
    ("工作日", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    ("每个工作日", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    ("每周一至周五", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    ("每周一至周三", "FREQ=WEEKLY;BYDAY=MO,TU,WE"),
    ("每月第2个周六", "FREQ=MONTHLY;BYDAY=2SA"),
    ("每月最后一个周五", "FREQ=MONTHLY;BYDAY=-1FR"),
    ("每周六、周日", "FREQ=WEEKLY;BYDAY=SA,SU"),
    ("每2周周日", "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU"),
    ("每天", "FREQ=DAILY"),
    ("2 weeks on sunday", "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU"),
])
def test_chinese_and_english_shorthands(text: str, rule: str) -> None:
    assert shorthand_to_rrule(text) == rule


@pytest.mark.parametrize("rule", [
    "FREQ=WEEKLY;INTERVAL=0", "FREQ=WEEKLY;INTERVAL=-1", "FREQ=MONTHLY;BYMONTHDAY=0", "FREQ=YEARLY;BYMONTH=13",
    "FREQ=MONTHLY;BYDAY=+9SA", "FREQ=WEEKLY;COUNT=0", "FREQ=WEEKLY;BYDAY=2SA", "FREQ=MONTHLY;BYWEEKNO=3",
    "FREQ=WEEKLY;WKST=XX", "FREQ=WEEKLY;;BYDAY=SA", "FREQ=WEEKLY;COUNT=3;UNTIL=20270101",
    # never fire: without the part checks dateutil would search day by day to year 9999
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31",
])
def test_a_rule_that_never_advances_or_is_out_of_range_is_refused(rule: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_rule(rule, date(2026, 9, 1))
    assert refused.value.field == "rrule"


@pytest.mark.parametrize("rule", ["FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                                  "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29"])
def test_a_rule_that_fires_on_no_date_is_refused_within_seconds(rule: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match="fires on no date"):
        check_rule(rule, date(2025, 9, 1))
    assert time.perf_counter() - started < 5


def test_a_leap_day_rule_fires_within_the_bound() -> None:
    check_rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", date(2025, 3, 1))
