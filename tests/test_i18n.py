"""The catalogs are complete and current; the language is chosen as documented; Click speaks it."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

from scheduler import i18n

ROOT = Path(__file__).resolve().parent.parent


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("roster_i18n_tool", ROOT / "tools" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_message_has_a_chinese_translation_and_the_catalogs_are_current() -> None:
    problems = _tool().problems()
    assert not problems, "\n".join(problems[:60])


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_the_fast_catalog_reader_answers_as_gnu_gettext(lang: str) -> None:
    import gettext

    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "roster.mo"
    with path.open("rb") as handle:
        reference = gettext.GNUTranslations(handle)
    mine = i18n.Catalog(path, lang)
    keys = list(reference._catalog)  # type: ignore[attr-defined]
    assert len(keys) > (500 if lang == "zh_CN" else 10)
    for key in keys:
        if isinstance(key, tuple):
            for n in (0, 1, 2, 7):
                assert mine.ngettext(key[0], key[0] + " (plural)", n) == reference.ngettext(
                    key[0], key[0] + " (plural)", n), (key, n)
            assert mine.gettext(key[0]) == reference.gettext(key[0]), key  # a plural is not a message
        elif key:
            assert mine.gettext(key) == reference.gettext(key), key
            assert mine.ngettext(key, key + "s", 2) == reference.ngettext(key, key + "s", 2), key
    assert mine.gettext("no such message id") == "no such message id"
    assert mine.ngettext("one apple", "{n} apples", 3) == "{n} apples"


def _write_mo(path: Path, entries: dict[bytes, bytes]) -> None:
    """A little-endian .mo with ``entries`` (original → translation), originals sorted as msgfmt does."""
    import struct

    keys = sorted(entries)
    header = 7 * 4
    ids_at, texts_at = header, header + 8 * len(keys)
    blob = bytearray()
    start = texts_at + 8 * len(keys)
    ids, texts = [], []
    for table, values in ((ids, keys), (texts, [entries[k] for k in keys])):
        for value in values:
            table.append((len(value), start + len(blob)))
            blob += value + b"\0"
    data = struct.pack("<7I", 0x950412DE, 0, len(keys), ids_at, texts_at, 0, 0)
    data += b"".join(struct.pack("<2I", *pair) for pair in ids + texts) + bytes(blob)
    path.write_bytes(data)


def test_a_message_and_a_plural_with_one_singular_are_told_apart(tmp_path: Path) -> None:
    """msgfmt refuses such a pair, but the reader must not take one for the other: they sit side by
    side in the sorted table (X before X NUL Y), the bisection may land on either."""
    import gettext

    path = tmp_path / "roster.mo"
    entries = {b"": b"Content-Type: text/plain; charset=UTF-8\n", b"apple": b"\xe8\x8b\xb9\xe6\x9e\x9c",
               b"apple\0apples": "一个苹果\0{n} 个苹果".encode(), b"pear": "梨".encode(),
               b"a": b"A", b"b\0bs": b"B\0Bs"}
    for extra in range(6):  # move the bisection's first landing place around
        entries[f"k{extra}".encode()] = f"K{extra}".encode()
        _write_mo(path, entries)
        mine = i18n.Catalog(path, "en")
        with path.open("rb") as handle:
            reference = gettext.GNUTranslations(handle)
        for key in ("apple", "pear", "a", "b", "missing", "k0"):
            assert mine.gettext(key) == reference.gettext(key), key
            for n in (1, 2):
                assert mine.ngettext(key, key + "s", n) == reference.ngettext(key, key + "s", n), (key, n)
    assert mine.gettext("apple") == "苹果" and mine.ngettext("apple", "apples", 2) == "{n} 个苹果"


def test_a_missing_catalog_translates_nothing(tmp_path: Path) -> None:
    empty = i18n.Catalog(tmp_path / "roster.mo", "zh_CN")
    assert empty.gettext("volunteer") == "volunteer"
    assert empty.ngettext("a seat", "seats", 1) == "a seat"


def test_the_extractor_refuses_an_f_string_in_gettext(tmp_path: Path) -> None:
    tool = _tool()
    with pytest.raises(tool.ExtractError, match="literal strings"):
        list(tool.python_messages(tmp_path / "x.py", 'name = "x"\n_(f"hello {name}")\n', click=False))


def test_the_extractor_reads_click_help_as_click_cleans_it(tmp_path: Path) -> None:
    source = '''
@group.command("add")
@click.option("--name", help="""Name,
    in Chinese.""")
def add(name):
    """Add a thing.

    Example: roster thing add
    """
'''
    found = [m for _line, m in _tool().python_messages(tmp_path / "x.py", source, click=True)]
    assert "Name,\nin Chinese." in found
    assert "Add a thing.\n\nExample: roster thing add" in found


@pytest.mark.parametrize(("env", "expected"), [
    ({"ROSTER_LANG": "zh_CN"}, "zh_CN"),
    ({"ROSTER_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LC_MESSAGES": "zh_TW.UTF-8", "LANG": "en_GB.UTF-8"}, "zh_CN"),
    ({"LANG": "zh_CN.GB18030"}, "zh_CN"),
    ({"LANG": "C.UTF-8"}, "zh_CN"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({}, "zh_CN"),
    ({"ROSTER_LANG": "  "}, "zh_CN"),
])
def test_the_language_follows_roster_lang_then_the_locale(env: dict[str, str], expected: str) -> None:
    assert i18n.resolve(env) == expected


def test_dates_read_as_a_chinese_reader_expects() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    moment = datetime(2026, 12, 2, 8, 30, tzinfo=ZoneInfo("UTC"))
    with i18n.using("zh_CN"):
        assert i18n.format_date(date(2026, 12, 2)) == "12月2日（周三）"
        assert i18n.format_datetime(moment, shanghai) == "12月2日（周三）16:30"
        assert i18n.format_datetime(moment, shanghai, with_year=True) == "2026年12月2日（周三）16:30"
        assert i18n.format_datetime(moment, ZoneInfo("UTC"), label=True) == "12月2日（周三）08:30 UTC"
        end = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("UTC"))
        assert i18n.format_time_range(moment, end, shanghai) == "12月2日（周三）16:30-18:00"
    with i18n.using("en"):
        assert i18n.format_datetime(moment, shanghai) == "Wed 2 Dec 16:30"


def test_using_overrides_the_environment_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROSTER_LANG", "en")
    assert i18n._("Usage:") == "Usage:"
    with i18n.using("zh_CN"):
        assert i18n._("Usage:") != "Usage:"
    assert i18n._("Usage:") == "Usage:"


def _invoke(args: list[str], lang: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from cli import cli

    env = {"ROSTER_LANG": lang, "ROSTER_HOME": str(tmp_path / "home")}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_help_usage_and_click_errors_speak_the_chosen_language(tmp_path: Path) -> None:
    zh = _invoke(["--help"], "zh_CN", tmp_path)
    assert zh.exit_code == 0
    assert "用法" in zh.output and "Usage:" not in zh.output
    assert "退出码" in zh.output
    assert "Show this message and exit." not in zh.output
    en = _invoke(["--help"], "en", tmp_path)
    assert "Usage:" in en.output and "用法" not in en.output and "Exit codes:" in en.output
    # A subcommand's docstring and options, and Click's own error, in one process after the other.
    sub = _invoke(["volunteer", "add", "--help"], "zh_CN", tmp_path)
    assert "Show this message and exit." not in sub.output and "显示" in sub.output
    bad = _invoke(["volunteer", "add", "--bogus"], "zh_CN", tmp_path)
    assert bad.exit_code == 2 and "--bogus" in bad.output and "No such option" not in bad.output
    assert "No such option" in _invoke(["volunteer", "add", "--bogus"], "en", tmp_path).output


def test_a_domain_error_speaks_chinese_and_json_keeps_english(tmp_path: Path) -> None:
    assert _invoke(["init"], "en", tmp_path).exit_code == 0
    missing = _invoke(["volunteer", "show", "13800000000"], "zh_CN", tmp_path)
    assert missing.exit_code == 3
    assert "not found" not in missing.output and "错误" in missing.output
    listing = _invoke(["community", "list", "--json"], "zh_CN", tmp_path)
    assert listing.exit_code == 0
    assert json.loads(listing.output) == []


# --------------------------------------------------------------------------- help text in a terminal's cells


def _cells(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _command_paths() -> list[list[str]]:
    import click

    from cli import cli

    ctx = click.Context(cli)
    paths: list[list[str]] = [[]]

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            paths.append([*prefix, name])
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])

    walk(cli, [])
    return paths


def _description_columns(help_text: str) -> list[list[int]]:
    """Per definition list (Options, Commands), the cell at which each entry's description starts."""
    import re

    lists: list[list[int]] = []
    current: list[int] | None = None
    for line in help_text.splitlines():
        if re.fullmatch(r"(Options|Commands|选项|命令):", line.strip()):
            current = []
            lists.append(current)
        elif current is not None and not line.strip():
            current = None
        elif current is not None:
            match = re.match(r"^(  \S.*?)  +(\S)", line)
            if match and not line.startswith("   "):  # an entry whose description is on its line
                current.append(_cells(match.group(1)) + len(line[len(match.group(1)):match.start(2)]))
    return [columns for columns in lists if columns]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_help_keeps_its_columns_and_the_terminal_width(lang: str) -> None:
    """Click measured help in characters: a Chinese metavar (--out 文件夹) pushed its description out
    of line and Chinese paragraphs ran to twice the width. Every command's --help, in both languages:
    descriptions start in one column per list, no line wider than 120 cells (examples aside)."""
    from cli import cli

    runner = CliRunner(env={"ROSTER_LANG": lang})
    paths = _command_paths()
    assert len(paths) > 80
    wide_seen = False
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        for columns in _description_columns(result.output):
            assert len(set(columns)) == 1, (path, columns, result.output)
        for line in result.output.splitlines():
            wide_seen = wide_seen or _cells(line) > len(line)
            if not line.lstrip().startswith(("roster ", "例如：roster", "Example: roster")):
                assert _cells(line) <= 120, (path, _cells(line), line)
    assert wide_seen or lang == "en"


def test_chinese_help_breaks_between_characters_but_not_before_a_closing_mark() -> None:
    import cli as cli_module

    text = "二维码打开 ROSTER_WEB_BASE_URL/r/<key>，key 为用网页密钥（ROSTER_WEB_SECRET）签名的服务项目：只要该密钥不变。"
    for chunk in text.split(" "):
        pieces = cli_module._cjk_pieces(chunk)
        assert "".join(pieces) == chunk  # nothing lost
        assert not any(piece[0] in cli_module._CLOSING for piece in pieces[1:] if not piece.isascii()), pieces
    import click

    wrapped = click.wrap_text(text, width=40)
    assert all(_cells(line) <= 40 for line in wrapped.splitlines()), wrapped
    assert wrapped.replace("\n", "").replace(" ", "") == text.replace(" ", "")
    assert not any(line[0] in cli_module._CLOSING for line in wrapped.splitlines()), wrapped
    assert cli_module._join_cjk_lines("签名的\n服务项目\n\n\b\n例如：\n  roster") == "签名的服务项目\n\n\b\n例如：\n  roster"


def test_the_cjk_scans_cut_and_join_as_the_regular_expressions_they_replace() -> None:
    """cli.py scans for CJK pieces and breaks by hand (compiling these classes cost every start
    ~7 ms); over every message of both catalogs, and marks in awkward places, the scans give what
    the regular expressions give."""
    import re

    import cli as cli_module
    from scheduler.i18n import LOCALE_DIR

    cjk = "\u2e80-\u2fff\u3040-\u9fff\uf900-\ufaff\uff01-\uff60"
    opening, closing = cli_module._OPENING, cli_module._CLOSING
    piece = re.compile(f"[{opening}]*[{cjk}][{closing}]*|[{opening}]+|[^{cjk}{opening}]+[{closing}]*")
    wide = "\u2e80-\u9fff\uff00-\uffef"
    cjk_break = re.compile(f"(?<=[{wide}])\n(?=[{wide}])")
    texts = ["（「a」）", "（（字）。", "a（", "，字", "…—", "字\n\n字", "\n字\n", "a\n字", "字\nb", "（\n字",
             "ROSTER_WEB_BASE_URL/r/<key>，key 为（ROSTER_WEB_SECRET）签名的：只要该密钥不变。"]
    for lang in ("zh_CN", "en"):
        with (LOCALE_DIR / lang / "LC_MESSAGES" / "roster.po").open("rb") as po:
            catalog = read_po(po)
        for message in catalog:
            for text in (message.id, message.string):
                texts.extend(t for t in (text if isinstance(text, tuple) else (text,)) if t)
    assert len(texts) > 1000
    for text in texts:
        for chunk in text.split(" "):
            assert cli_module._cjk_pieces(chunk) == piece.findall(chunk), chunk
        for paragraph in text.split("\n\n"):
            assert cli_module._drop_cjk_breaks(paragraph) == cjk_break.sub("", paragraph), paragraph
