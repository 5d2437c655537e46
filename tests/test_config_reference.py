"""The README's configuration reference is generated from ``config.CONFIG_KEYS``."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.config import CONFIG_KEYS, ConfigKey
from provisioner.config_reference import BEGIN, END, main, rewrite, shown_default, table


def _key(default: object, shown: str | None = None) -> ConfigKey:
    return ConfigKey("k", "t", default, "d", lambda value, _: value, shown)


@pytest.mark.parametrize(
    ("default", "shown"),
    [
        ("dev", "`dev`"),
        (2, "`2`"),
        (False, "`false`"),
        (("a", "b"), '`["a", "b"]`'),
        ((), "`[]`"),
        ({}, "`{}`"),
    ],
)
def test_a_default_is_shown_as_toml_writes_it(default: object, shown: str) -> None:
    assert shown_default(_key(default)) == shown


def test_a_default_the_value_cannot_say_is_shown_in_the_keys_words() -> None:
    assert shown_default(_key(None, "computed")) == "computed"
    with pytest.raises(ValueError, match="k: give its ConfigKey a shown_default"):
        shown_default(_key(None))


def test_every_key_is_a_row_in_order() -> None:
    rows = table().splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == [f"| `{k.name}`" for k in CONFIG_KEYS]


def test_the_table_between_the_markers_is_rewritten_and_nothing_else(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{BEGIN}\n| stale |\n{END}\n\nafter\n")
    assert main([str(readme)]) == 0
    assert readme.read_text() == f"# x\n\n{BEGIN}\n{table()}\n{END}\n\nafter\n"
    assert rewrite(readme.read_text()) == readme.read_text()


def test_a_readme_without_the_markers_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no table\n")
    assert main([str(readme)]) == 1
    assert readme.read_text() == "# no table\n"
    assert f"no {BEGIN} ... {END} markers" in capsys.readouterr().err
