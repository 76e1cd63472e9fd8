"""Prompt templates: Jinja2 files in `prompts/` rendered from the policy and the item.

A template is plain Jinja2. It may define `{% block system %}` and `{% block user %}`; each becomes one
chat message (a template with neither block is one user message). Its mode is declared in a leading
comment, read as YAML:

    {#
    mode: yes_no
    description: one yes/no question per policy area
    #}

Templates are found by name in the prompts folder (`CALIBRATE_PROMPTS`, else `prompts/` at the repository
root), or by path. Adding a template needs no code: drop a file there and name it in a rater config.
The template hash (SHA-256 of the file's source) goes into every judgement and into the cache key.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
import yaml

import calibration
from calibration.errors import InputError
from calibration.models import Area, Item, Policy, sha256_text

_FRONT = re.compile(r"^\s*\{#-?(.*?)-?#\}", re.S)


def prompts_dir() -> Path:
    """`CALIBRATE_PROMPTS`, else `prompts/` next to the `calibration` package."""
    env = os.environ.get("CALIBRATE_PROMPTS")
    return Path(env) if env else Path(calibration.__file__).resolve().parents[1] / "prompts"


def resolve_template(name: str | Path) -> Path:
    """A path that exists (absolute, or relative to the working directory), else a name in `prompts_dir()`."""
    p = Path(name).expanduser()
    if p.is_absolute() or p.exists():
        if not p.is_file():
            raise InputError.at(p, 0, "template", "template file not found")
        return p.resolve()
    candidate = prompts_dir() / p
    if candidate.is_file():
        return candidate.resolve()
    known = sorted(x.name for x in prompts_dir().glob("*.j2")) if prompts_dir().is_dir() else []
    raise InputError.at(
        candidate,
        0,
        "template",
        f"no template {str(name)!r} in {prompts_dir()} (known: {', '.join(known) or 'none'})",
    )


def response_schema(policy: Policy) -> dict[str, Any]:
    """The JSON schema of one answer: label and areas restricted to the policy's own values."""
    return {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": list(policy.labels)},
            "areas": {"type": "array", "items": {"type": "string", "enum": list(policy.area_ids)}},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string"},
        },
        "required": ["label", "areas", "confidence", "rationale"],
        "additionalProperties": False,
    }


@dataclass
class PromptTemplate:
    """One loaded template: its source, hash, declared settings, and a renderer."""

    path: Path
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, name: str | Path) -> PromptTemplate:
        path = resolve_template(name)
        source = path.read_text(encoding="utf-8")
        meta: dict[str, Any] = {}
        m = _FRONT.match(source)
        if m:
            try:
                parsed = yaml.safe_load(m.group(1))
            except yaml.YAMLError:
                parsed = None  # an ordinary comment, not settings
            if isinstance(parsed, dict):
                meta = parsed
        mode = meta.get("mode")
        if mode is not None and mode not in ("json", "yes_no"):
            raise InputError.at(
                path, 1, "mode", f"mode {mode!r} in the template header; expected json or yes_no"
            )
        tpl = cls(path=path, source=source, meta=meta)
        try:
            _ = (tpl._template, tpl._parents, tpl.hash)  # compile now: report a bad template before any call
        except jinja2.TemplateError as e:
            raise InputError.at(
                path, getattr(e, "lineno", 0) or 0, "template", f"{type(e).__name__}: {e}"
            ) from None
        return tpl

    @cached_property
    def hash(self) -> str:
        """SHA-256 of the source; of the source and every template it includes or extends, if any."""
        refs = self._referenced()
        if not refs:
            return sha256_text(self.source)
        return sha256_text("\0".join([self.source, *(src for _, src in refs)]))

    def _referenced(self) -> list[tuple[str, str]]:
        """(name, source) of the templates reached through extends / include / import, in a stable order."""
        seen: dict[str, str] = {}
        todo = [self.source]
        while todo:
            ast = self._env.parse(todo.pop())
            for name in jinja2.meta.find_referenced_templates(ast):
                if name is None or name in seen:
                    continue
                src, _, _ = self._env.loader.get_source(self._env, name)
                seen[name] = src
                todo.append(src)
        return sorted(seen.items())

    @property
    def mode(self) -> str | None:
        return self.meta.get("mode")

    @property
    def name(self) -> str:
        return self.path.name

    @cached_property
    def _env(self) -> jinja2.Environment:
        # Prompts are text, not HTML: no autoescape. StrictUndefined: a typo in a template is an error.
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(self.path.parent), str(prompts_dir())]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        # `tojson` escapes <, > and & for HTML; prompts want the plain JSON text.
        env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)
        return env

    @cached_property
    def _template(self) -> jinja2.Template:
        try:
            return self._env.from_string(self.source)
        except jinja2.TemplateSyntaxError as e:
            raise InputError.at(
                self.path, e.lineno or 0, "template", f"Jinja2 syntax error: {e.message}"
            ) from None

    @cached_property
    def _parents(self) -> list[jinja2.Template]:
        """The templates this one extends, nearest first."""
        out: list[jinja2.Template] = []
        source = self.source
        while True:
            parent = next(
                (n.template.value for n in self._env.parse(source).find_all(jinja2.nodes.Extends)
                 if isinstance(n.template, jinja2.nodes.Const)),
                None,
            )  # fmt: skip
            if parent is None:
                return out
            out.append(self._env.get_template(parent))
            source, _, _ = self._env.loader.get_source(self._env, parent)

    def messages(self, policy: Policy, item: Item, *, area: Area | None = None) -> list[dict[str, str]]:
        """The chat messages for one item (and, in yes/no mode, one policy area)."""
        ctx = {
            "policy": policy,
            "item": item,
            "area": area,
            "labels": list(policy.labels),
            "areas": list(policy.areas),
            "schema_json": json.dumps(response_schema(policy), indent=None),
        }
        tpl = self._template
        try:
            context = tpl.new_context(ctx)
            for parent in self._parents:  # blocks inherited through {% extends %}, as Jinja does on render
                for name, func in parent.blocks.items():
                    context.blocks.setdefault(name, []).append(func)
            if "system" in context.blocks or "user" in context.blocks:
                out = []
                for role in ("system", "user"):
                    if role in context.blocks:
                        text = "".join(context.blocks[role][0](context)).strip()
                        if text:
                            out.append({"role": role, "content": text})
                return out
            return [{"role": "user", "content": tpl.render(ctx).strip()}]
        except jinja2.TemplateError as e:
            raise InputError.at(
                self.path, getattr(e, "lineno", 0) or 0, "template", f"cannot render: {e}"
            ) from None
