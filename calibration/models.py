"""The data model, defined once: policies, golden-set items, gold decisions and judgements.

These pydantic models are the single definition of the file formats (`policy.yaml`, `items.jsonl`,
ratings files) and of what the store keeps. Loaders in `policy`, `golden` and `importers` turn files
into these objects and report errors with file, line and field; the store persists them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RaterKind = Literal["human", "llm", "model"]
JudgementStatus = Literal["ok", "error"]

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]*$"


class Example(BaseModel):
    """A worked example in the policy: a text and the decision the policy gives it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    label: str
    areas: list[str] = Field(default_factory=list)
    rationale: str | None = None


class Area(BaseModel):
    """One policy area: what it forbids, with examples on both sides of the line."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID_PATTERN)
    title: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    violates: list[str] = Field(default_factory=list)
    safe: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)


class Policy(BaseModel):
    """A moderation policy: the decision scale (`labels`, in order) and the policy areas."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID_PATTERN)
    version: str = Field(min_length=1)
    title: str | None = None
    instructions: str | None = None
    labels: list[str] = Field(min_length=2)
    ordinal: bool = False
    # The label that means "nothing violated" (used for per-area views and binary grading).
    # Defaults to the first label of the scale.
    allow_label: str | None = None
    areas: list[Area] = Field(min_length=1)
    source: str | None = None
    license: str | None = None
    citation: str | None = None

    @field_validator("labels")
    @classmethod
    def _labels_unique(cls, labels: list[str]) -> list[str]:
        seen: set[str] = set()
        for label in labels:
            if not label.strip():
                raise ValueError("labels must be non-empty strings")
            if label in seen:
                raise ValueError(f"label {label!r} is listed twice")
            seen.add(label)
        return labels

    @model_validator(mode="after")
    def _check_references(self) -> Policy:
        seen: set[str] = set()
        for area in self.areas:
            if area.id in seen:
                raise ValueError(f"area id {area.id!r} is defined twice")
            seen.add(area.id)
        if self.allow_label is not None and self.allow_label not in self.labels:
            raise ValueError(f"allow_label {self.allow_label!r} is not one of labels {self.labels}")
        for area in self.areas:
            for ex in area.examples:
                if ex.label not in self.labels:
                    raise ValueError(
                        f"example in area {area.id!r} has label {ex.label!r}; expected one of {self.labels}"
                    )
                for a in ex.areas:
                    if a not in seen:
                        raise ValueError(f"example in area {area.id!r} cites unknown area {a!r}")
        return self

    @property
    def area_ids(self) -> list[str]:
        return [a.id for a in self.areas]

    @property
    def negative_label(self) -> str:
        return self.allow_label or self.labels[0]

    def area(self, area_id: str) -> Area:
        for a in self.areas:
            if a.id == area_id:
                return a
        raise KeyError(area_id)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the policy: the policy's version identity in the store."""
        return sha256_json(self.model_dump(mode="json"))


class Gold(BaseModel):
    """The correct decision for an item under the policy."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = None
    areas: list[str] = Field(default_factory=list)
    # Areas whose gold status is not known (e.g. a category the source did not label). Never read as "no".
    unknown_areas: list[str] = Field(default_factory=list)
    rationale: str | None = None


class Item(BaseModel):
    """One golden-set item."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1)
    text: str
    context: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    gold: Gold | None = None

    @field_validator("item_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        # Ids such as 17 in a CSV or JSON are still ids; keep them as text.
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty or whitespace only")
        return v


class Judgement(BaseModel):
    """One rater's decision on one item (in one round). Human and AI judgements share this shape."""

    model_config = ConfigDict(extra="forbid")

    item_id: str
    rater_id: str
    rater_kind: RaterKind = "human"
    label: str | None = None
    areas: list[str] = Field(default_factory=list)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    rationale: str | None = None
    status: JudgementStatus = "ok"
    error: str | None = None
    # Repeat index for raters run several times on the same item (stability); 0 for the first run.
    sample: int = 0
    # AI provenance (null for humans).
    model: str | None = None
    prompt_hash: str | None = None
    policy_hash: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    latency_ms: float | None = None
    raw_response: str | None = None
    # Per-area scores, e.g. P(yes) from logprobs: {area_id: probability}.
    area_scores: dict[str, float] | None = None

    @model_validator(mode="after")
    def _ok_needs_label(self) -> Judgement:
        if self.status == "ok" and self.label is None:
            raise ValueError("a judgement with status 'ok' needs a label")
        return self


def sha256_json(obj: Any) -> str:
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
