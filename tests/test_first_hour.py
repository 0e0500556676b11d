"""Issue 17: the rough edges a new user hits in the first hour, and bugs found by review."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ dependency floors
def test_dependency_floors_cover_what_the_code_uses():
    from importlib.metadata import version

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floors = dict(re.findall(r'^\s*"([A-Za-z0-9_-]+)>=([0-9.]+)"', text, flags=re.M))

    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", text)[:2])

    assert numbers(floors["typer"]) >= (0, 26)  # typer._click
    assert numbers(floors["torch"]) >= (2, 5)  # Adam(fused) on CPU 2.4, onnx dynamo=False 2.5
    for name in ("typer", "torch"):
        assert numbers(version(name)) >= numbers(floors[name]), name
