"""Regenerate the initial migration from the models (pre-release only: nothing is deployed yet).

Usage: .venv/bin/python tools/regen_migration.py
Once a release ships, schema changes become new revisions (alembic revision --autogenerate).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from scheduler.migrate import MIGRATIONS, alembic_config

target = MIGRATIONS / "versions" / "0001_initial_schema.py"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    command.revision(alembic_config(f"sqlite:///{tmp}/gen.db"), message="initial schema", autogenerate=True,
                     rev_id="0001")
subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--unsafe-fixes", "-q", str(target)], check=False)
subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(target)], check=False)
print(f"wrote {Path(target).relative_to(Path.cwd()) if target.is_relative_to(Path.cwd()) else target}")
