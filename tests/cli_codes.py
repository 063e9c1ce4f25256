"""Exit codes the CLI tests assert: the domain's by their error class, Click's usage error by name."""

from __future__ import annotations

from scheduler.errors import USAGE_EXIT_CODE

#: Click's exit code for a bad option or argument.
USAGE = USAGE_EXIT_CODE
