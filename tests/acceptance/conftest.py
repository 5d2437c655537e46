"""The acceptance suite runs only when asked for: without ``SMPROV_ACCEPTANCE=1`` its tests are
deselected (not skipped: nothing here can pass or fail offline, so the normal run does not count
them), and asked for without credentials it fails rather than passing silently."""

from __future__ import annotations

import os

import pytest

OPT_IN = "SMPROV_ACCEPTANCE"


def opted_in() -> bool:
    return os.environ.get(OPT_IN) == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if opted_in():
        return
    aws = [item for item in items if item.get_closest_marker("aws")]
    if aws:
        config.hook.pytest_deselected(items=aws)
        items[:] = [item for item in items if not item.get_closest_marker("aws")]
