"""The README's configuration reference, generated from ``config.CONFIG_KEYS`` (each key's type,
default and text live there, next to its parser): a new setting is one ``ConfigKey``, and
``python -m provisioner.config_reference`` rewrites the table between the README's
``<!-- config-table -->`` markers. tests/test_readme.py fails, naming that command, while the
README is stale.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from provisioner.config import CONFIG_KEYS, ConfigKey

BEGIN = "<!-- config-table -->"
END = "<!-- /config-table -->"
COMMAND = "python -m provisioner.config_reference"


def shown_default(key: ConfigKey) -> str:
    """The default as TOML would write it, or the key's own words when the value cannot say."""
    value = key.default
    if key.shown_default is not None:
        return key.shown_default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Mapping):
        return f"`{json.dumps(dict(value))}`"
    if isinstance(value, tuple):
        return f"`{json.dumps(list(value))}`"
    if isinstance(value, int | str):
        return f"`{value}`"
    raise ValueError(f"{key.name}: give its ConfigKey a shown_default")


def table() -> str:
    """The reference as a Markdown table, one row per key in ``CONFIG_KEYS``' order."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key in CONFIG_KEYS:
        cells = (f"`{key.name}`", key.type, shown_default(key), key.description)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def rewrite(text: str) -> str:
    """``text`` (the README) with the table between the markers replaced by ``table()``."""
    before, begin, rest = text.partition(BEGIN)
    _old, end, after = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"no {BEGIN} ... {END} markers")
    return f"{before}{BEGIN}\n{table()}\n{END}{after}"


def main(argv: Sequence[str]) -> int:
    """Rewrite the README given (default: README.md here); 1 with a message when it cannot."""
    path = Path(argv[0] if argv else "README.md")
    try:
        text = path.read_text(encoding="utf-8")
        new = rewrite(text)
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    if new != text:
        path.write_text(new, encoding="utf-8")
    print(f"{path}: configuration reference {'rewritten' if new != text else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
