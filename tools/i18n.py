"""The message catalogs, with Babel: extract the ids from the code, merge them into each language's
``.po``, compile the ``.mo`` files that scheduler/i18n.py reads.

    python tools/i18n.py update    # extract, merge, take pending translations, compile (make i18n)
    python tools/i18n.py check     # what tests/test_i18n.py checks: exit 1 and say what is wrong
    python tools/i18n.py todo commands/volunteer.py scheduler/volunteers/
                                   # a .po skeleton of what those files still need in Chinese

What is extracted:

* calls ``_("...")``, ``N_("...")``, ``gettext("...")`` and ``ngettext("...", "...", n)`` anywhere in
  the packages (the argument must be a literal string: an f-string cannot be translated);
* in ``cli.py`` and ``commands/``, Click's help: the docstring of every function decorated as a
  command or group, and the ``help=``, ``short_help=``, ``epilog=`` and ``prompt=`` literals, cleaned
  as Click cleans them (``inspect.cleandoc``), and the one-line helps of ``cli.COMMANDS``;
* the ``{% trans %}`` blocks and ``_()`` calls of the web templates (Jinja2's Babel extractor).

Translations written while the code is being changed may wait in ``scheduler/locale/pending/*.po``
(ordinary ``.po`` files, each with some ``msgid``/``msgstr`` pairs): ``update`` takes them into the
language's catalog (``pending/<name>.<lang>.po``; no language part means zh_CN) and they can then be
deleted. Locations are not written (the catalogs do not change when a line moves).
"""

from __future__ import annotations

import ast
import copy
import inspect
import io
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "scheduler" / "locale"
TEMPLATE = LOCALE / "roster.pot"
PENDING = LOCALE / "pending"
LANGUAGES = ("zh_CN", "en")
PACKAGES = ("scheduler", "calendars", "tasks", "web", "demo", "commands")
CLICK_SOURCES = ("cli.py", "commands/")
CLICK_KEYWORDS = ("help", "short_help", "epilog", "prompt")
CALLS = {"_": 1, "N_": 1, "gettext": 1, "lazy_gettext": 1, "ngettext": 2, "NP_": 2}
#: Domain errors whose literal arguments are message ids (scheduler/errors.py translates them).
ERROR_ARGUMENTS = {"NotFound": (0,), "InvalidInput": (0, 1)}
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)?(?:[!:][^{}]*)?\}(?!\})")


class ExtractError(Exception):
    pass


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_command_decorator(node: ast.AST) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return _call_name(target) in ("command", "group")


def python_messages(path: Path, source: str, click: bool) -> Iterator[tuple[int, str | tuple[str, str]]]:
    """(line, message id or (singular, plural)) for one Python file."""
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node.func)
            if isinstance(node.func, ast.Name) and name in CALLS and node.args:
                texts = [_literal(arg) for arg in node.args[:CALLS[name]]]
                if any(text is None for text in texts) or len(texts) < CALLS[name]:
                    raise ExtractError(f"{path}:{node.lineno}: {name}() needs literal strings (no f-string, "
                                       "no variable): write _(\"... {name} ...\").format(name=...)")
                yield node.lineno, texts[0] if len(texts) == 1 else (texts[0], texts[1])  # type: ignore[misc]
            for index in ERROR_ARGUMENTS.get(name, ()):
                text = _literal(node.args[index]) if len(node.args) > index else None
                if text:
                    yield node.lineno, text
            if click:
                for keyword in node.keywords:
                    text = _literal(keyword.value) if keyword.arg in CLICK_KEYWORDS else None
                    if text and text.strip():
                        yield keyword.value.lineno, inspect.cleandoc(text)
        elif click and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_is_command_decorator(d) for d in node.decorator_list):
                doc = ast.get_docstring(node, clean=True)
                if doc:
                    yield node.lineno, doc
        elif click and isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "COMMANDS" for t in targets) and isinstance(
                    node.value, ast.Dict):
                for value in node.value.values:
                    if isinstance(value, ast.Tuple) and len(value.elts) > 1:
                        text = _literal(value.elts[1])
                        if text:
                            yield value.lineno, inspect.cleandoc(text)


def sources() -> Iterator[Path]:
    yield ROOT / "cli.py"
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))
        if package == "web":
            yield from sorted((ROOT / package / "templates").rglob("*.html"))


def extract_catalog() -> Catalog:
    """Every message id in the code, as a template catalog."""
    catalog = Catalog(project="roster", domain="roster", fuzzy=False, charset="utf-8")
    for path in sources():
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in relative:
            continue
        if path.suffix == ".html":
            with path.open("rb") as handle:
                for lineno, _funcname, message, _comments, *_ in extract(
                        "jinja2.ext:babel_extract", handle, keywords={"_": None, "gettext": None,
                                                                      "ngettext": (1, 2)},
                        options={"trimmed": "true", "extensions": "jinja2.ext.i18n"}):
                    catalog.add(message, locations=[(relative, lineno)])
            continue
        click = relative == "cli.py" or relative.startswith("commands/")
        for lineno, message in python_messages(path, path.read_text(encoding="utf-8"), click):
            catalog.add(message, locations=[(relative, lineno)])
    return catalog


def _write(path: Path, catalog: Catalog) -> None:
    buffer = io.BytesIO()
    write_po(buffer, catalog, no_location=True, omit_header=False, sort_output=True, ignore_obsolete=True,
             width=100)
    text = buffer.getvalue()
    # The header's creation date changes on every run: keep the catalog byte-stable.
    text = re.sub(rb'"POT-Creation-Date: [^"]*\\n"\n', b"", text)
    text = re.sub(rb'"PO-Revision-Date: [^"]*\\n"\n', b"", text)
    text = re.sub(rb"# Translations template for roster\.\n# Copyright .*\n", b"", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(text)
    tmp.replace(path)


def compiled(catalog: Catalog) -> bytes:
    """The .mo bytes of ``catalog``. Babel stamps a missing creation date with the current minute, which
    would make the compiled file (and the check against it) depend on the clock: pin it."""
    catalog.creation_date = datetime(2000, 1, 1, tzinfo=UTC)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / "roster.po"


def read_catalog(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=lang, domain="roster")


def pending(lang: str) -> dict[Any, Any]:
    """Translations waiting in scheduler/locale/pending/ for ``lang``."""
    found: dict[Any, Any] = {}
    if not PENDING.is_dir():
        return found
    for path in sorted(PENDING.glob("*.po")):
        parts = path.name.split(".")
        file_lang = parts[-2] if len(parts) > 2 else "zh_CN"
        if file_lang != lang:
            continue
        for message in read_catalog(path, lang):
            if message.id and message.string and (not isinstance(message.string, tuple | list)
                                                  or all(message.string)):
                found[message.id] = message.string
    return found


def update() -> None:
    template = extract_catalog()
    _write(TEMPLATE, template)
    for lang in LANGUAGES:
        path = po_path(lang)
        catalog = read_catalog(path, lang) if path.exists() else Catalog(locale=lang, domain="roster")
        # A copy each: Babel's update() puts the template's own Message objects into the catalog for
        # new ids, so one language's translations would otherwise leak into the next language.
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)
        for msgid, string in pending(lang).items():
            if msgid in catalog:
                catalog[msgid].string = string
        for message in catalog:
            message.flags.discard("fuzzy")
        catalog.fuzzy = False
        _write(path, catalog)
        mo = path.with_suffix(".mo")
        tmp = mo.with_suffix(".mo.tmp")
        tmp.write_bytes(compiled(read_catalog(path, lang)))
        tmp.replace(mo)


def _placeholders(text: str) -> set[str]:
    return {match.group(1) or "" for match in PLACEHOLDER.finditer(text)}


def problems() -> list[str]:
    """What is wrong with the catalogs, one line each (empty when they are complete and current)."""
    found: list[str] = []
    try:
        template = extract_catalog()
    except ExtractError as exc:
        return [str(exc)]
    wanted = {m.id for m in template if m.id}
    if not TEMPLATE.exists():
        return ["scheduler/locale/roster.pot is missing: run `make i18n`"]
    recorded = {m.id for m in read_catalog(TEMPLATE) if m.id}
    for msgid in sorted(wanted - recorded, key=str)[:20]:
        found.append(f"not in the catalog (run `make i18n`): {msgid!r}")
    for msgid in sorted(recorded - wanted, key=str)[:20]:
        found.append(f"in the catalog but no longer in the code (run `make i18n`): {msgid!r}")
    for lang in LANGUAGES:
        path = po_path(lang)
        if not path.exists():
            found.append(f"{path.relative_to(ROOT)} is missing: run `make i18n`")
            continue
        catalog = read_catalog(path, lang)
        ids = {m.id for m in catalog if m.id}
        if ids != wanted:
            found.append(f"{path.relative_to(ROOT)} is out of date with the code: run `make i18n`")
        mo = path.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compiled(catalog):
            found.append(f"{mo.relative_to(ROOT)} is not compiled from its .po: run `make i18n`")
        for message in catalog:
            if not message.id:
                continue
            ids_text = message.id if isinstance(message.id, str) else " ".join(message.id)
            strings = [message.string] if isinstance(message.string, str) else list(message.string)
            if lang == "zh_CN" and (not all(strings) or "fuzzy" in message.flags):
                found.append(f"no Chinese translation: {message.id!r}")
                continue
            for string in strings:
                if string and string.count("\b") != ids_text.count("\b"):
                    found.append(f"{lang}: the translation of {message.id!r} drops or adds Click's \\b "
                                 f"(keep-this-paragraph-as-is) marker: {string!r}")
                if string and _placeholders(string) != _placeholders(ids_text if isinstance(message.id, str)
                                                                     else message.id[0]):
                    if not isinstance(message.id, str) and _placeholders(string) <= _placeholders(ids_text):
                        continue
                    found.append(f"{lang}: the translation of {message.id!r} has other placeholders: "
                                 f"{string!r}")
    return found


def todo(prefixes: list[str]) -> str:
    """A ``.po`` skeleton of the message ids found in files under ``prefixes`` that have no Chinese
    translation yet (neither in the catalog nor pending): fill it in, save it under pending/."""
    template = extract_catalog()
    path = po_path("zh_CN")
    done = {m.id for m in read_catalog(path, "zh_CN") if m.id and m.string and (
        isinstance(m.string, str) or all(m.string))} if path.exists() else set()
    done |= set(pending("zh_CN"))
    out = Catalog(locale="zh_CN", domain="roster")
    for message in template:
        if not message.id or message.id in done:
            continue
        if any(location.startswith(tuple(prefixes)) for location, _line in message.locations):
            out.add(message.id, locations=message.locations)
    buffer = io.BytesIO()
    write_po(buffer, out, omit_header=True, sort_output=False, width=100, include_lineno=True)
    return buffer.getvalue().decode("utf-8")


def main(argv: list[str]) -> int:
    if argv[1:2] == ["todo"]:
        print(todo(argv[2:] or [""]), end="")
        return 0
    if argv[1:] == ["update"]:
        update()
        return 0
    if argv[1:] == ["check"]:
        listed = problems()
        for line in listed[:200]:
            print(line)
        if len(listed) > 200:
            print(f"... and {len(listed) - 200} more")
        return 1 if listed else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
