"""The plan as text, Terraform-style, that reads at the terminal's width.

One resource per header line (``+`` create, ``~`` update, ``-/+`` replace, ``-`` delete), then one
attribute per line: what a create will set, or what an update changes (a table key by key, a
policy document statement by statement). Fields that are how smprov does its job rather than what
the user asked for (a kind's ``hidden`` fields: digests, local paths) are not listed. A value too
long for the line wraps at spaces and commas under its own column; no line is wider than the
terminal. A value generated at the first apply (a bucket name's random suffix) reads
"(random, chosen at apply)" until a state keeps it, so two plans of an unchanged world print the
same text. Replacements come first: they are what a reader must not miss.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from provisioner.engine.model import UNKNOWN, Action, FieldChange, Ref, Step, own_causes
from provisioner.kind_helpers.policy import normalize_policy

RANDOM = "(random, chosen at apply)"
KNOWN_AFTER_APPLY = "(known after apply)"
#: Tag keys smprov sets for itself (how it finds its resources): not the user's business.
OWN_TAG_PREFIX = "smprov:"
STYLE = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "magenta",
    Action.DELETE: "red",
    Action.NOOP: "dim",
}
HEAD_INDENT = 2
BODY_INDENT = 8


def ordered(steps: Iterable[Step]) -> list[Step]:
    """What forces a replacement first (a resource whose own setting AWS cannot change in
    place), then the replacements that follow from it (their parent's id is not known until
    it is made again), then everything else; plan order within each."""

    def rank(step: Step) -> int:
        if step.action is not Action.REPLACE:
            return 3
        forcing = [c for c in step.changes if c.forces_replace]
        own = own_causes(step)
        if own and len(own) == len(forcing):
            return 0  # only its own settings force it (the VPC's CIDR)
        return 1 if own else 2

    return sorted(steps, key=rank)


def fmt(value: Any) -> str:
    """A value as the plan shows it: strings bare, booleans lowercase, Refs as ${key.attr}."""
    if value is UNKNOWN:
        return KNOWN_AFTER_APPLY
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if value == "":
        return '""'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def hide_fresh(text: str, fresh: Mapping[str, str]) -> str:
    """``text`` with every generated value no apply has kept yet replaced by RANDOM."""
    for value in sorted(fresh.values(), key=len, reverse=True):
        if value:
            text = text.replace(value, RANDOM)
    return text


def step_lines(
    step: Step,
    *,
    width: int,
    hidden: frozenset[str] = frozenset(),
    fresh: Mapping[str, str] | None = None,
    kept: str | None = None,
) -> list[tuple[str, str]]:
    """The lines of one step as (text, style), each at most ``width`` characters. ``kept``:
    why a deletion will keep the resource (data the user did not ask to delete)."""
    fresh = fresh or {}
    style = STYLE[step.action]
    ident = f" {step.live.id}" if step.live else ""
    head = f"{' ' * HEAD_INDENT}{step.action.symbol:>3} {step.key} ({step.kind}{ident})"
    if step.action is Action.REPLACE:
        forcing = sorted({c.path for c in step.changes if c.forces_replace})
        if forcing:
            head += f" forces replacement: {', '.join(forcing)}"
    lines = [(line, style) for line in wrap(hide_fresh(head, fresh), width, HEAD_INDENT + 4)]
    if step.action is Action.CREATE and step.desired is not None:
        body = _attributes(step.desired.spec, hidden, width - BODY_INDENT)
    else:
        room = width - BODY_INDENT
        body = [line for change in step.changes for line in _change_lines(change, hidden, room)]
    for text in body:
        text = " " * BODY_INDENT + hide_fresh(text, fresh)
        for line in wrap(text, width, _hang(text)):
            lines.append((line, "" if step.action is not Action.CREATE else "dim"))
    notes = [step.reason] if step.reason else []
    if kept:
        notes.append(f"kept: {kept}")
    for note in notes:
        text = " " * BODY_INDENT + f"({hide_fresh(note, fresh)})"
        lines.extend((line, "dim") for line in wrap(text, width, BODY_INDENT + 1))
    return lines


def _attributes(spec: Mapping[str, Any], hidden: frozenset[str], room: int) -> list[str]:
    """What a create sets: one ``name = value`` per line, names aligned; a table or a list that
    does not fit on its line opens a block, one entry per line (``room``: the line's width)."""
    shown: dict[str, Any] = {}
    for name, value in spec.items():
        if name in hidden or _empty(value):
            continue
        if name == "tags":
            value = {k: v for k, v in value.items() if not k.startswith(OWN_TAG_PREFIX)}
            if not value:
                continue
        shown[name] = value
    return _entries(shown, room)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | Mapping) and not value)


def _entries(table: Mapping[str, Any], room: int) -> list[str]:
    table = {name: value for name, value in table.items() if value is not None}
    width = max((len(str(name)) for name in table), default=0)
    lines: list[str] = []
    for name, value in table.items():
        lines.extend(_entry(f"{str(name).ljust(width)} = ", value, room))
    return lines


def _entry(lead: str, value: Any, room: int) -> list[str]:
    """``lead`` + the value: inline when it fits and holds no table, else a block."""
    inline = lead + fmt(value)
    nested = isinstance(value, Mapping) or (
        isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value)
    )
    if not nested and (len(inline) <= room or not isinstance(value, list | tuple)):
        return [inline]
    inner = room - 4
    if isinstance(value, Mapping):
        body = _entries(value, inner)
        return [lead + "{", *("    " + line for line in body), "}"]
    body = []
    for item in value:
        body.extend(_entry("", item, inner))
    return [lead + "[", *("    " + line for line in body), "]"]


def _indented(lead: str, value: Any, room: int) -> list[str]:
    """``_entry`` for a ``lead`` that starts with spaces: a block's lines keep its indent."""
    indent = " " * (len(lead) - len(lead.lstrip(" ")))
    return [indent + line for line in _entry(lead.lstrip(" "), value, room - len(indent))]


def _change_lines(change: FieldChange, hidden: frozenset[str], room: int) -> list[str]:
    """One changed field: a table key by key, a policy statement by statement, else
    ``~ name: old → new`` (``room``: the line's width)."""
    forced = "  (forces replacement)" if change.forces_replace else ""
    old, new = _as_policy(change.old), _as_policy(change.new)
    if old is not None or new is not None:
        return [f"~ {change.path}: policy{forced}", *_policy_lines(old, new, room)]
    if isinstance(change.old, Mapping) and isinstance(change.new, Mapping):
        lines: list[str] = []
        for key in sorted(set(change.old) | set(change.new), key=str):
            if change.path == "tags" and str(key).startswith(OWN_TAG_PREFIX):
                continue
            a, b = change.old.get(key, _ABSENT), change.new.get(key, _ABSENT)
            if a == b:
                continue
            sub = FieldChange(f"{change.path}.{key}", a, b, change.forces_replace)
            lines.extend(
                _change_lines(sub, hidden, room) if _ABSENT not in (a, b) else _added(sub, room)
            )
        return lines
    if change.path in hidden:
        return [f"~ {change.path}: changed{forced}"]
    lists = isinstance(change.old, list | tuple) and isinstance(change.new, list | tuple)
    if lists and any(isinstance(v, Mapping) for v in (*change.old, *change.new)):
        removed = [v for v in change.old if v not in change.new]
        added = [v for v in change.new if v not in change.old]
        return [
            f"~ {change.path}:{forced}",
            *(line for v in removed for line in _indented("    - ", v, room)),
            *(line for v in added for line in _indented("    + ", v, room)),
        ]
    return [_one(change) + forced]


def _added(change: FieldChange, room: int) -> list[str]:
    """A key added to a table or taken from it: a policy statement by statement, a value too
    long for its line as a block."""
    sign, value = ("+", change.new) if change.old is _ABSENT else ("-", change.old)
    policy = _as_policy(value)
    if policy is None:
        return _entry(f"{sign} {change.path} = ", value, room)
    before, after = (None, policy) if sign == "+" else (policy, None)
    return [f"{sign} {change.path}: policy", *_policy_lines(before, after, room)]


class _Absent:
    def __repr__(self) -> str:
        return "(none)"


_ABSENT: Any = _Absent()


def _one(change: FieldChange) -> str:
    if change.old is _ABSENT:
        return f"+ {change.path} = {fmt(change.new)}"
    if change.new is _ABSENT:
        return f"- {change.path} = {fmt(change.old)}"
    return f"~ {change.path}: {fmt(change.old)} → {fmt(change.new)}"


def _as_policy(value: Any) -> dict[str, Any] | None:
    """A policy document (a table, or its JSON text, with a Statement), normalized."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not (isinstance(value, Mapping) and "Statement" in value):
        return None
    try:
        return normalize_policy(_plain(value))
    except (TypeError, ValueError):
        return None


def _plain(value: Any) -> Any:
    """``value`` with what is not known yet spelled as text (a policy naming a new VPC)."""
    if value is UNKNOWN or isinstance(value, Ref):
        return fmt(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _statements(policy: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Statements by Sid (a statement without one by its place)."""
    out: dict[str, Mapping[str, Any]] = {}
    for index, statement in enumerate((policy or {}).get("Statement", [])):
        out[str(statement.get("Sid") or f"#{index + 1}")] = statement
    return out


def _policy_lines(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, room: int
) -> list[str]:
    """Only the statements that differ, and in a changed statement only its changed fields."""
    before, after = _statements(old), _statements(new)
    lines: list[str] = []
    for sid in [*before, *(s for s in after if s not in before)]:
        a, b = before.get(sid), after.get(sid)
        if a == b:
            continue
        if a is None or b is None:
            sign, statement = ("+", b) if a is None else ("-", a)
            lines.append(f"  {sign} statement {sid}")
            width = max(len(k) for k in statement)
            for k, v in statement.items():
                if k != "Sid":
                    lines.extend(_indented(f"      {k.ljust(width)} = ", v, room))
            continue
        lines.append(f"  ~ statement {sid}")
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                lines.extend(_statement_field(name, a, b, room))
    for name in sorted(set(old or {}) | set(new or {}), key=str):
        a, b = (old or {}).get(name), (new or {}).get(name)
        if name == "Statement" or a == b:
            continue
        if old is None or new is None:  # a whole document added or taken: its own fields
            lines.insert(0, f"  {name} = {fmt(a if new is None else b)}")
        else:
            lines.append(f"  ~ {name}: {fmt(a)} → {fmt(b)}")
    return lines


def _statement_field(
    name: str, old: Mapping[str, Any], new: Mapping[str, Any], room: int
) -> list[str]:
    """A field of a changed statement: ``~ name: old → new`` (wrapped under the new value), or
    for a table (a Condition, a Principal) too long for its line, the one that goes and the one
    that comes, each as a block."""
    line = f"      ~ {name}: {fmt(old.get(name, '(none)'))} → {fmt(new.get(name, '(none)'))}"
    tables = any(isinstance(side.get(name), Mapping) for side in (old, new))
    if len(line) <= room or not tables:
        return [line]
    if name not in old:
        return _indented(f"      + {name} = ", new[name], room)
    if name not in new:
        return _indented(f"      - {name} = ", old[name], room)
    return [
        f"      ~ {name}:",
        *_indented("          - ", old[name], room),
        *_indented("          + ", new[name], room),
    ]


def _hang(text: str) -> int:
    """Where a wrapped value continues: under the value, after ``= `` or ``: ``."""
    for mark in (" = ", ": "):
        at = text.find(mark)
        if at != -1:
            return at + len(mark)
    return len(text) - len(text.lstrip(" ")) + 2


def wrap(line: str, width: int, hang: int) -> list[str]:
    """``line`` cut at spaces (after commas, arrows) into lines of at most ``width``; a word
    longer than a line (an ARN) is cut where it must be."""
    if len(line) <= width:
        return [line]
    hang = min(hang, max(width // 2, 4))
    indent = len(line) - len(line.lstrip(" "))
    return textwrap.wrap(
        line.lstrip(" "),
        width=width,
        initial_indent=" " * indent,
        subsequent_indent=" " * hang,
        break_on_hyphens=False,
        break_long_words=True,
        drop_whitespace=True,
    ) or [line[:width]]


def summary(counts: Mapping[Action, int], kept: int = 0, kept_replaced: int = 0) -> str:
    """The plan's last line; the same counts the refusal of a replacement names. ``kept``:
    deletions that may keep their resource; ``kept_replaced``: replacements that may keep the
    old one."""
    parts = [
        f"{counts.get(Action.CREATE, 0)} to create",
        f"{counts.get(Action.UPDATE, 0)} to update",
        f"{counts.get(Action.REPLACE, 0)} to replace",
        f"{counts.get(Action.DELETE, 0)} to delete",
    ]
    if kept_replaced:
        parts[2] += f" ({kept_replaced} may keep the old one: see above)"
    if kept:
        parts[-1] += f" ({kept} may be kept: see above)"
    parts.append(f"{counts.get(Action.NOOP, 0)} unchanged")
    return "Plan: " + ", ".join(parts) + "."


def lines_of(
    steps: Sequence[Step],
    *,
    width: int,
    hidden: Mapping[str, frozenset[str]],
    fresh: Mapping[str, str],
    kept: Mapping[str, str],
) -> list[tuple[str, str]]:
    """Every step's lines, replacements first."""
    return [
        line
        for step in ordered(steps)
        for line in step_lines(
            step,
            width=width,
            hidden=hidden.get(step.kind, frozenset()),
            fresh=fresh,
            kept=kept.get(step.key),
        )
    ]
