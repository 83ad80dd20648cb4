"""The README's quickstart runs as written, and prints what the README says
it prints (a newcomer copies it first)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_quickstart_runs_and_prints_what_the_readme_says(tmp_path: Path) -> None:
    quickstart = next(block for block in _blocks() if "asyncio.run(main())" in block)
    assert 'open_service("memory://")' in quickstart
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == [
        "sending password reset (attempt 1)",
        "sending welcome ada@example.com (attempt 1)",
    ]


def test_switching_to_redis_is_one_line() -> None:
    text = README.read_text()
    assert 'open_service("redis://localhost:6379/0")' in text
