"""`--set key=value` Detector overrides, shared by the quality benchmarks."""

from __future__ import annotations

import json


def parse_overrides(items: list[str]) -> dict:
    """["seq_len=16", "scoring=mean"] -> {"seq_len": 16, "scoring": "mean"} (JSON values)."""
    params = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params
