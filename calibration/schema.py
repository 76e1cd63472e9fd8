"""SQLAlchemy 2 table definitions of the store. Alembic migrations in `calibration/migrations` create them.

The store is the log (as in Simon Willison's `llm`): every judgement keeps who made it, in which round,
under which policy and prompt version, and every AI call is kept with its raw response.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class PolicyRow(Base):
    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GoldenSetRow(Base):
    __tablename__ = "golden_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    policy_pk: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("golden_set_pk", "item_id", name="uq_items_set_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    golden_set_pk: Mapped[int] = mapped_column(ForeignKey("golden_sets.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict | None] = mapped_column("metadata", JSON, nullable=True)
    tags: Mapped[list | None] = mapped_column(JSON, nullable=True)
    gold_label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    gold_areas: Mapped[list | None] = mapped_column(JSON, nullable=True)
    gold_unknown_areas: Mapped[list | None] = mapped_column(JSON, nullable=True)
    gold_rationale: Mapped[str | None] = mapped_column(Text, nullable=True)


class RaterRow(Base):
    __tablename__ = "raters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rater_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RoundRow(Base):
    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("golden_set_pk", "name", name="uq_rounds_set_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    golden_set_pk: Mapped[int] = mapped_column(ForeignKey("golden_sets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    policy_pk: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    state: Mapped[str] = mapped_column(String(20), default="open")
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RoundItemRow(Base):
    """The sample of the golden set that a round covers (all items when no sample was drawn)."""

    __tablename__ = "round_items"

    round_pk: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True)
    item_pk: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)


class JudgementRow(Base):
    __tablename__ = "judgements"
    __table_args__ = (
        UniqueConstraint("round_pk", "item_pk", "rater_pk", "sample", name="uq_judgement"),
        Index("ix_judgements_item_rater", "item_pk", "rater_pk"),
        Index("ix_judgements_rater", "rater_pk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_pk: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    item_pk: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    rater_pk: Mapped[int] = mapped_column(ForeignKey("raters.id"))
    sample: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    areas: Mapped[list | None] = mapped_column(JSON, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    rationale: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="ok")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(String(300), nullable=True)
    prompt_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tokens_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_out: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    raw_response: Mapped[str | None] = mapped_column(Text, nullable=True)
    area_scores: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LLMCallRow(Base):
    """Every AI call, keyed for the response cache: a re-run with the same key makes no request."""

    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_cache_key", "cache_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cache_key: Mapped[str] = mapped_column(String(64))
    rater_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str] = mapped_column(String(300))
    base_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    template_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    item_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    request: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    tokens_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_out: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
