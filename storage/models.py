"""Run records: what the factory was asked to do, what it made and where it went.

    Campaign 1─* Run 1─* Shot *─1 Render (the template cache index, shared across runs)
                   Run 1─* Clip 1─* Publication
    ModerationDecision: every allow/review/block/approve/reject, for prompts, renders and clips

The schema is created and changed only by the Alembic migrations in ``storage/migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict: JSON, list: JSON}


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16), default="campaign")  # campaign | product
    spec_path: Mapped[str] = mapped_column(Text, default="")
    spec_sha256: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    runs: Mapped[list[Run]] = relationship(back_populates="campaign")


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    kind: Mapped[str] = mapped_column(String(16), default="campaign")  # campaign|product|localize
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # pending -> running -> (review) -> completed | failed | blocked
    backend: Mapped[str] = mapped_column(String(32), default="")
    locales: Mapped[list] = mapped_column(JSON, default=list)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    parent_run_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)  # stage timings, stabilize reports
    master_key: Mapped[str | None] = mapped_column(Text, nullable=True)  # stored master render
    manifest_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="runs")
    shots: Mapped[list[Shot]] = relationship(back_populates="run", order_by="Shot.position")
    clips: Mapped[list[Clip]] = relationship(back_populates="run")


class Shot(Base):
    __tablename__ = "shots"
    __table_args__ = (UniqueConstraint("run_id", "shot_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    shot_id: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    seed: Mapped[int] = mapped_column(BigInteger)
    frames: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)
    render_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|rendered|failed

    run: Mapped[Run] = relationship(back_populates="shots")


class Render(Base):
    """One rendered shot, addressed by the hash of everything that decides its pixels.

    This table is also the template cache's index: ``state`` and ``claimed_*`` let several
    workers agree that exactly one of them renders a key; ``pinned`` and ``last_used_at`` drive
    least-recently-used eviction that never touches templates.
    """

    __tablename__ = "renders"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="claimed")  # claimed | ready
    backend: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(128), default="")
    request: Mapped[dict] = mapped_column(JSON, default=dict)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    fps: Mapped[int] = mapped_column(Integer, default=0)
    object_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    render_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    template: Mapped[str | None] = mapped_column(String(128), nullable=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)


class Clip(Base):
    """One deliverable: the run's shot sequence in one locale and one format."""

    __tablename__ = "clips"
    __table_args__ = (UniqueConstraint("run_id", "locale", "format",
                                       name="uq_clips_run_locale_format"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    locale: Mapped[str] = mapped_column(String(35))
    # "9:16" ...; "" for a spec without output.formats (one clip per locale, as before)
    format: Mapped[str] = mapped_column(String(8), default="", server_default="")
    content_id: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # pending -> encoded -> published | rejected
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # watermark payload, sidecars ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    run: Mapped[Run] = relationship(back_populates="clips")
    publications: Mapped[list[Publication]] = relationship(back_populates="clip")


class Publication(Base):
    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("clip_id", "target", "object_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id"))
    target: Mapped[str] = mapped_column(Text)  # store URL
    object_key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="video")  # video | srt | vtt
    url: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    uploaded: Mapped[bool] = mapped_column(Boolean, default=True)  # False: already there
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The object the clip's KIND currently is on TARGET; a superseded one (a changed clip under
    # the same run) is deleted from the store and keeps its row here, with the time.
    current: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    superseded_at: Mapped[datetime | None] = mapped_column(nullable=True)

    clip: Mapped[Clip] = relationship(back_populates="publications")


class ModerationDecision(Base):
    """An audit row for every moderation decision, automatic or human."""

    __tablename__ = "moderation_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # text | render | clip
    subject_id: Mapped[str] = mapped_column(String(128), index=True)  # shot id, render key, content id
    decision: Mapped[str] = mapped_column(String(16))  # allow|review|block|approved|rejected
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    detector: Mapped[str] = mapped_column(String(64), default="")
    detector_version: Mapped[str] = mapped_column(String(64), default="")
    reviewer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FigureImport(Base):
    """One delivery of engagement figures (a file or a POST /metrics body): the same figures
    delivered again have the same digest and are not stored twice."""

    __tablename__ = "figure_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the rows, sorted
    source: Mapped[str] = mapped_column(Text, default="")  # file name, or "api"
    rows: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    figures: Mapped[list[ClipFigures]] = relationship(back_populates="delivery")


class ClipFigures(Base):
    """A clip's (or a whole variant's) running totals as one import reported them. Ranking
    takes each subject's figures from its latest import (platforms report totals to date)."""

    __tablename__ = "clip_figures"
    __table_args__ = (UniqueConstraint("import_id", "campaign_id", "variant_id", "clip_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("figure_imports.id"))
    campaign_id: Mapped[str] = mapped_column(String(128), index=True)
    variant_id: Mapped[str] = mapped_column(String(160), default="")
    clip_id: Mapped[str] = mapped_column(String(64), default="")  # content id; "": the variant
    locale: Mapped[str] = mapped_column(String(35), default="")
    impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    completions: Mapped[int] = mapped_column(BigInteger, default=0)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)

    delivery: Mapped[FigureImport] = relationship(back_populates="figures")
