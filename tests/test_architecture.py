"""Dependencies point one way: the import-linter contracts in pyproject.toml hold, and they catch a
break, even one hidden in an import inside a function."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scheduler", "calendars", "tasks", "demo")
#: Frameworks of the entry points; the domain and the feeds never load them when imported.
ENTRY_POINT_FRAMEWORKS = ("click", "celery", "kombu", "flask")


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``lint-imports`` on a project folder (its pyproject.toml, its packages)."""
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(script), "--no-cache", str(project / "pyproject.toml")], cwd=project,
                          env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(project)},
                          capture_output=True, text=True, timeout=120, check=False)


def test_import_contracts_hold() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.fixture
def copy_of_the_project(tmp_path: Path) -> Path:
    """The packages and pyproject.toml copied to a scratch folder, to be broken on purpose."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")


def test_contracts_catch_the_domain_importing_click_inside_a_function(copy_of_the_project: Path) -> None:
    _append(copy_of_the_project / "scheduler" / "errors.py",
            "def _echo(text: str) -> None:\n    import click\n\n    click.echo(text)")
    run = _lint_imports(copy_of_the_project)
    assert run.returncode != 0
    assert "The domain imports no feeds, workers, demo, CLI, click, celery or flask BROKEN" in run.stdout
    assert "scheduler is not allowed to import click" in run.stdout
    assert "scheduler.errors -> click" in run.stdout


def test_contracts_catch_a_circle_between_feature_packages(copy_of_the_project: Path) -> None:
    # The organisations package is below rosters; an import back up, even inside a function, is a circle.
    _append(copy_of_the_project / "scheduler" / "organisations" / "__init__.py",
            "def _seat_count() -> int:\n    from scheduler.rosters import OPEN_SEATED\n\n    return len(OPEN_SEATED)")
    run = _lint_imports(copy_of_the_project)
    assert run.returncode != 0
    assert "No import circles between sibling packages or modules" in run.stdout
    assert "No cycles are allowed in scheduler." in run.stdout


def test_contracts_catch_the_feed_builder_reaching_the_database(copy_of_the_project: Path) -> None:
    _append(copy_of_the_project / "calendars" / "build.py",
            "def _count() -> int:\n    from scheduler.models import Occurrence\n\n    return len(Occurrence.__table__.c)")
    run = _lint_imports(copy_of_the_project)
    assert run.returncode != 0
    assert "The feed builder is pure: no SQLAlchemy, no database modules BROKEN" in run.stdout


def _module_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, top-level package) of each import that runs when the module is imported: those of the
    module body and of its classes, ifs and trys, not those inside functions or under TYPE_CHECKING."""
    found: list[tuple[int, str]] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((node.lineno, node.module.split(".")[0]))
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With):
                visit(node.body)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return found


def test_domain_and_feeds_import_no_entry_point_framework_at_module_level() -> None:
    offending = []
    for package in ("scheduler", "calendars"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, name in _module_level_imports(tree):
                if name in ENTRY_POINT_FRAMEWORKS:
                    offending.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offending == []


def test_module_level_import_finder_sees_class_and_guarded_imports_but_not_function_ones() -> None:
    tree = ast.parse(
        "import click\n"
        "try:\n    from celery import Celery\nexcept ImportError:\n    pass\n"
        "class View:\n    import flask\n"
        "if TYPE_CHECKING:\n    import kombu\n"
        "def command() -> None:\n    import click\n")
    assert _module_level_imports(tree) == [(1, "click"), (3, "celery"), (7, "flask")]
