"""The printable week roster looked at in a real browser (Debian's chromium, headless): printed to PDF
on A4 as a coordinator's browser prints it, one branch a page with the service centre's name on top,
the Chinese text in the PDF's text layer as typed (a glyph missing from every font would read back
as nothing or U+FFFD, so this also proves a CJK font was found), nothing wider than the paper."""

from __future__ import annotations

import base64
import difflib
import io
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from scheduler.i18n import using
from scheduler.rosters.printable import build_html, printable_week
from tests.rosters.test_printable import HOME_ADDRESS, LONG_BRANCH, PHONE, WEEK, build_week
from tests.web.test_browser import _browser

#: A real browser process (like tests/web/test_browser.py): run by `make test`, not the dated runs.
pytestmark = pytest.mark.slow

A4_WIDTH_CM, A4_HEIGHT_CM = 21.0, 29.7
#: A4's width in CSS pixels (96 per inch) less the page's 12 mm side margins.
A4_CONTENT_PX = round((210 - 2 * 12) / 25.4 * 96)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = _browser(javascript=True)
    yield driver
    driver.quit()


def printed(browser: Any, html: str, path: Path) -> tuple[list[Any], int]:
    """The printed A4 pages (pypdf), and the widest element in CSS pixels at the paper's width."""
    from pypdf import PdfReader
    from selenium.webdriver.common.print_page_options import PrintOptions

    path.write_text(html, encoding="utf-8")
    browser.set_window_size(A4_CONTENT_PX, 1100)
    browser.get(path.as_uri())
    browser.execute_script("document.body.style.width = arguments[0] + 'px'", A4_CONTENT_PX)
    widest = browser.execute_script(
        "return Math.max(...Array.from(document.querySelectorAll('body *'), e => e.getBoundingClientRect().right))")
    options = PrintOptions()
    options.page_width, options.page_height = A4_WIDTH_CM, A4_HEIGHT_CM
    options.background = True
    pdf = PdfReader(io.BytesIO(base64.b64decode(browser.print_page(options))))
    for page in pdf.pages:  # A4 in PostScript points
        assert round(float(page.mediabox.width) / 72 * 2.54, 1) == A4_WIDTH_CM
        assert round(float(page.mediabox.height) / 72 * 2.54, 1) == A4_HEIGHT_CM
    return list(pdf.pages), int(widest)


def compact(text: str) -> str:
    """Text to compare: no white space, NFKC (a PDF's text layer may carry a CJK font's Kangxi radical
    code points, ⼼ U+2F3C for 心, and NFKC folds them into the ideographs typed)."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def found_in(typed: str, page_text: str) -> bool:
    """``typed`` on the page, allowing what a PDF's text layer does to CJK: a pan-CJK font maps some
    shared glyphs back to another code point (户 read as 戶, 龙 as ⻰). Nine characters in ten, in order."""
    wanted = compact(typed)
    match = difflib.SequenceMatcher(None, wanted, compact(page_text), autojunk=False)
    return sum(block.size for block in match.get_matching_blocks()) >= 0.9 * len(wanted)


def test_the_printed_roster_is_a4_one_branch_a_page_in_chinese(browser: Any, session: Session,
                                                                 tmp_path: Path) -> None:
    build_week(session)
    with using("zh_CN"):
        week = printable_week(session, WEEK)
        html = build_html(week)
    units = [page.unit for page in week.pages]
    assert units == ["顺景花园党支部", LONG_BRANCH, "爱联社区"]
    pages, widest = printed(browser, html, tmp_path / "roster.html")
    assert widest <= A4_CONTENT_PX, widest
    texts = [page.extract_text() for page in pages]
    assert len(pages) == len(units), [t[:60] for t in texts]
    for text, unit in zip(texts, units, strict=True):
        flat = compact(text)
        assert compact("爱联社区党群服务中心") in flat  # the centre's name on top of every page
        assert flat.count(compact("·志愿者排班表")) == 1  # one branch's heading a page
        assert found_in(unit, text), (unit, text)
        assert "\ufffd" not in text
        assert not PHONE.search(flat)
    assert found_in("四点半课堂", texts[0]) and found_in("王芳", texts[0])
    assert found_in("12月9日（周三）", texts[0])
    assert found_in("社区义诊", texts[2]) and found_in("张伟", texts[2])
    assert not found_in(HOME_ADDRESS, "".join(texts))  # a home visit's address never on paper


def test_the_english_printout_prints_the_same_pages(browser: Any, session: Session, tmp_path: Path) -> None:
    build_week(session)
    with using("en"):
        week = printable_week(session, WEEK)
        html = build_html(week)
    pages, widest = printed(browser, html, tmp_path / "roster-en.html")
    assert widest <= A4_CONTENT_PX and len(pages) == len(week.pages) == 3
    first = pages[0].extract_text()
    assert "Wed 9 Dec" in first and found_in("王芳", first)
