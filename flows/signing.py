"""Which C2PA signer the factory signs with, and which signers ``verify`` trusts.

Every clip is signed. With ``c2pa_cert``/``c2pa_key`` configured, a deployment signs with its own
(CA-issued) certificate; otherwise the factory makes a local identity on first use, a private
root CA and a leaf in ``DATA_DIR/signing`` (the folder 0700, the keys 0600; ``data/`` is never
committed), and signs with that.
"""

from __future__ import annotations

from pathlib import Path

from flows.settings import Settings
from tasks.watermark.provenance import load_or_create_identity


def signing_dir(settings: Settings) -> Path:
    """Where this factory's own C2PA signing identity lives (never in the repository)."""
    return settings.data_dir.resolve() / "signing"


def c2pa_signer(settings: Settings) -> tuple[Path, Path]:
    """The certificate chain and key clips are signed with: the configured ones, else this
    factory's local identity, made on first use (tasks.watermark.provenance)."""
    if settings.c2pa_cert and settings.c2pa_key:
        return settings.c2pa_cert, settings.c2pa_key
    identity = load_or_create_identity(signing_dir(settings), organization=settings.producer)
    return identity.chain, identity.key


def c2pa_trust(settings: Settings) -> dict[str, Path]:
    """The trust anchors ``verify`` reads signatures against: this factory's own identity and
    the configured ``c2pa_trust_anchors``."""
    anchors = {"this factory's local signing identity": signing_dir(settings) / "ca.pem"}
    if settings.c2pa_trust_anchors:
        anchors["configured trust anchors"] = settings.c2pa_trust_anchors
    return anchors

