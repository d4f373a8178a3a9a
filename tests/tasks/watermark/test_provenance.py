"""C2PA: a signed manifest validates, a tampered or re-written file does not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from tasks.watermark import (
    AiContentLabel,
    ProvenanceError,
    sign_c2pa,
    verify_c2pa,
    write_ai_metadata,
)

from .conftest import CONTENT_ID


@pytest.fixture(scope="module")
def signed(clips, signing_chain, tmp_path_factory) -> Path:
    chain, key = signing_chain
    dst = tmp_path_factory.mktemp("wm-signed") / "signed.mp4"
    return sign_c2pa(clips["storyboard"], dst, cert_chain=chain, private_key=key,
                     producer="Acme", content_id=CONTENT_ID)


def test_signed_manifest_validates_and_names_the_clip(signed):
    status = verify_c2pa(signed)
    assert status.state == "valid", status.failures
    assert status.content_id == CONTENT_ID and status.producer == "Acme"
    assert status.ai_generated is True and not status.trusted


def test_tampered_file_fails_validation(signed, tmp_path):
    data = bytearray(signed.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 4000] ^= 0xFF  # one byte of one frame
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    status = verify_c2pa(tampered)
    assert status.state == "invalid" and "bmffHash.mismatch" in status.detail


def test_rewriting_after_signing_breaks_the_manifest(signed, tmp_path):
    # Why signing must be the very last step: even a stream-copy tag rewrite invalidates it.
    label = AiContentLabel(CONTENT_ID, "Acme", "m", datetime(2026, 1, 1, tzinfo=UTC))
    relabelled = write_ai_metadata(signed, tmp_path / "relabelled.mp4", label)
    assert verify_c2pa(relabelled).state != "valid"


def test_unsigned_clip_is_absent(clips):
    assert verify_c2pa(clips["storyboard"]).state == "absent"


def test_self_signed_leaf_is_refused_and_leaves_no_file(clips, tmp_path):
    from datetime import datetime, timedelta

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "self.pem", tmp_path / "self.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    dst = tmp_path / "never.mp4"
    with pytest.raises(ProvenanceError):
        sign_c2pa(clips["storyboard"], dst, cert_chain=cert_path, private_key=key_path,
                  producer="Acme", content_id=CONTENT_ID)
    assert not dst.exists() and not list(tmp_path.glob(".never*"))  # no 0-byte leftovers


def test_garbage_certificate_is_refused(clips, signing_chain, tmp_path):
    _, key = signing_chain
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    dst = tmp_path / "never.mp4"
    with pytest.raises(ProvenanceError):
        sign_c2pa(clips["storyboard"], dst, cert_chain=bad, private_key=key, producer="Acme",
                  content_id=CONTENT_ID)
    assert not dst.exists()


def test_development_chain_has_the_profile_c2pa_accepts(signing_chain):
    chain, _ = signing_chain
    leaf, ca = x509.load_pem_x509_certificates(chain.read_bytes())
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert "DEVELOPMENT" in leaf.subject.rfc4514_string()
