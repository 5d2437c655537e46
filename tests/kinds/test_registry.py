"""The registry's list of services covers every client a kind asks for."""

from __future__ import annotations

import re
from pathlib import Path

import provisioner.kinds
from provisioner.kinds import SERVICES


def test_every_service_a_kind_calls_is_prepared_at_start_up() -> None:
    folder = Path(provisioner.kinds.__file__).parent
    used = {
        service
        for source in folder.glob("*.py")
        for service in re.findall(r'client\("([a-z0-9-]+)"\)', source.read_text())
    }
    assert used, "the scan found no client calls: the pattern is stale"
    assert used <= set(SERVICES), f"add {sorted(used - set(SERVICES))} to SERVICES"
