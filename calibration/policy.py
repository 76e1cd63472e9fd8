"""Load and validate `policy.yaml`, reporting errors at the YAML line of the offending field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from calibration.errors import InputError, Issue
from calibration.models import Policy
from calibration.textio import read_text


class _Located:
    """A composed YAML node tree, to find the line of a field path such as ('areas', 2, 'id')."""

    def __init__(self, root: yaml.Node):
        self.root = root

    def line(self, loc: tuple[Any, ...]) -> int:
        node = self.root
        line = node.start_mark.line + 1
        for key in loc:
            if isinstance(node, yaml.MappingNode):
                nxt = next((v for k, v in node.value if k.value == key), None)
                if nxt is None:
                    break
                kn = next(k for k, v in node.value if k.value == key)
                line = kn.start_mark.line + 1
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                break
        return line


def _duplicate_keys(node: yaml.Node, path: str, found: list[tuple[int, str]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if k.value in seen:
                found.append((k.start_mark.line + 1, f"{path}{k.value}"))
            seen.add(k.value)
            _duplicate_keys(v, f"{path}{k.value}.", found)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _duplicate_keys(v, f"{path}{i}.", found)


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(policy)"


def parse_policy(text: str, path: str | Path = "<policy>") -> Policy:
    """Parse policy YAML text into a `Policy`, or raise `InputError` naming path:line and field."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError.at(path, line, None, f"invalid YAML: {problem}") from None
    if root is None or not isinstance(data, dict):
        raise InputError.at(path, 1, None, "expected a YAML mapping with id, version, labels and areas")
    located = _Located(root)
    dups: list[tuple[int, str]] = []
    _duplicate_keys(root, "", dups)
    if dups:
        line, key = dups[0]
        raise InputError.at(path, line, key, "key appears twice in the same mapping; expected it once")
    # Duplicate area ids and labels are pinned to their own line (the model would only say "policy").
    areas = data.get("areas")
    if isinstance(areas, list):
        seen: dict[str, int] = {}
        for i, area in enumerate(areas):
            if isinstance(area, dict) and "id" in area:
                aid = str(area["id"])
                if aid in seen:
                    raise InputError.at(
                        path,
                        located.line(("areas", i, "id")),
                        f"areas.{i}.id",
                        f"area id {aid!r} is already defined at line {seen[aid]}; expected unique area ids",
                    )
                seen[aid] = located.line(("areas", i, "id"))
    _check_examples(data, located, path)
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        issues = []
        for err in e.errors():
            loc = tuple(err["loc"])
            msg = err["msg"]
            if err["type"] == "missing":
                msg = "required field is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown field; expected one of the fields documented for policy.yaml"
            issues.append(Issue(str(path), located.line(loc), _field_name(loc), msg))
        raise InputError(issues) from None


def _check_examples(data: dict[str, Any], located: _Located, path: str | Path) -> None:
    """Example labels and areas must exist in the policy; pinned to the example's own line."""
    labels = data.get("labels")
    areas = data.get("areas")
    if not isinstance(labels, list) or not isinstance(areas, list):
        return  # the model reports the missing or malformed field itself
    area_ids = {str(a.get("id")) for a in areas if isinstance(a, dict)}
    for i, area in enumerate(areas):
        examples = area.get("examples") if isinstance(area, dict) else None
        for k, ex in enumerate(examples if isinstance(examples, list) else []):
            if not isinstance(ex, dict):
                continue
            if "label" in ex and ex["label"] not in labels:
                loc = ("areas", i, "examples", k, "label")
                raise InputError.at(path, located.line(loc), _field_name(loc),
                                    f"label {ex['label']!r} is not a policy label; expected one of {labels}")  # fmt: skip
            for a in ex.get("areas") or []:
                if str(a) not in area_ids:
                    loc = ("areas", i, "examples", k, "areas")
                    raise InputError.at(path, located.line(loc), _field_name(loc),
                                        f"area {a!r} is not a policy area; expected one of {sorted(area_ids)}")  # fmt: skip


def load_policy(path: str | Path) -> Policy:
    """Read and validate a `policy.yaml` file."""
    return parse_policy(read_text(path), path)
