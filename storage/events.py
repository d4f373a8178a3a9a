"""Catalog webhook deliveries: the ledger that makes a replayed webhook start no second run.

    CatalogEvent: one accepted delivery, keyed by the sender's event id. The SHA-256 of its
    signature is unique too, so the same signed request resent under a new event id is also
    recognised as a replay (with body-only signatures, as Shopify's, the timestamp and event id
    headers are not covered by the signature and could otherwise be changed freely).

The table is created by the Alembic migration ``0003``; these helpers only read and write rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, utcnow


class CatalogEvent(Base):
    __tablename__ = "catalog_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))  # catalog.product.created | .updated
    sku: Mapped[str] = mapped_column(String(128), index=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    signature_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="received")  # received | emitted
    prefect_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    emitted_at: Mapped[datetime | None] = mapped_column(nullable=True)


def claim_event(s: Session, *, event_id: str, topic: str, sku: str, body_sha256: str,
                signature_sha256: str, sent_at: datetime | None) -> bool:
    """Record a delivery; False when its event id or signature was seen before (a replay).

    The insert itself is the check, so two copies arriving at once cannot both win.
    """
    row = CatalogEvent(event_id=event_id, topic=topic, sku=sku, body_sha256=body_sha256,
                       signature_sha256=signature_sha256, sent_at=sent_at)
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:
        return False
    return True


def mark_emitted(s: Session, event_id: str, prefect_event_id: str) -> None:
    row = s.get(CatalogEvent, event_id)
    if row is not None:
        row.state, row.prefect_event_id, row.emitted_at = "emitted", prefect_event_id, utcnow()
        s.flush()


def release_event(s: Session, event_id: str) -> None:
    """Forget a claimed delivery whose event could not be emitted, so the sender's retry works."""
    row = s.get(CatalogEvent, event_id)
    if row is not None:
        s.delete(row)
        s.flush()


def get_event(s: Session, event_id: str) -> CatalogEvent | None:
    return s.get(CatalogEvent, event_id)


def events_for_sku(s: Session, sku: str) -> list[CatalogEvent]:
    return list(s.scalars(select(CatalogEvent).where(CatalogEvent.sku == sku)
                          .order_by(CatalogEvent.received_at)))
