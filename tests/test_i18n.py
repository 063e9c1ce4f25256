"""The catalogs are complete and current; the language is chosen as documented; Click speaks it."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
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
        elif key:
            assert mine.gettext(key) == reference.gettext(key), key
    assert mine.gettext("no such message id") == "no such message id"
    assert mine.ngettext("one apple", "{n} apples", 3) == "{n} apples"


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
        pieces = cli_module._CJK_PIECE.findall(chunk)
        assert "".join(pieces) == chunk  # nothing lost
        assert not any(piece[0] in cli_module._CLOSING for piece in pieces[1:] if not piece.isascii()), pieces
    import click

    wrapped = click.wrap_text(text, width=40)
    assert all(_cells(line) <= 40 for line in wrapped.splitlines()), wrapped
    assert wrapped.replace("\n", "").replace(" ", "") == text.replace(" ", "")
    assert not any(line[0] in cli_module._CLOSING for line in wrapped.splitlines()), wrapped
    assert cli_module._join_cjk_lines("签名的\n服务项目\n\n\b\n例如：\n  roster") == "签名的服务项目\n\n\b\n例如：\n  roster"
