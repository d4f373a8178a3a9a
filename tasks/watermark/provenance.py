"""C2PA provenance: a signed manifest saying the clip was made by a trained model, and by whom.

The manifest binds a hash of the MP4's bytes (``c2pa.hash.bmff``), so signing must be the very
last step before publishing: anything that rewrites the file afterwards (tags, faststart,
re-muxing) makes it read back as ``invalid``. The EU AI Act's Article 50 asks for exactly this
kind of machine-readable marking; the IPTC ``trainedAlgorithmicMedia`` source type is the
standard way to say "made by a generative model".

c2pa-python (0.38) signs offline with ES256. It refuses a self-signed leaf and leaves a 0-byte
file when signing fails (docs/reference/platform-facts.md), so the output is checked and a failure raised. A
certificate chain that works: a P-256 root CA plus a leaf with ``CA:FALSE``,
``keyUsage=critical,digitalSignature`` and ``extendedKeyUsage=emailProtection``;
:func:`make_dev_certificate` makes such a chain for development and tests, never for publishing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from common.errors import ConfigError, MediaError, ProvenanceError

CONTENT_ASSERTION = "org.content-factory.clip"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
DEV_CERT_NAME = "content-factory DEVELOPMENT signer - do not publish"  # CN: <= 64 chars


@dataclass(frozen=True)
class C2paStatus:
    """What a clip's C2PA manifest says about it.

    ``state``: ``valid`` (signature and content hashes check out), ``invalid`` (a manifest is
    there but the file was changed after signing, or the signature is bad) or ``absent``.
    ``trusted`` tells whether the signer chains to a trust anchor the reader was given; a
    development certificate never is.
    """

    state: Literal["valid", "invalid", "absent"]
    detail: str = ""
    failures: list[str] = field(default_factory=list)
    content_id: str | None = None
    producer: str | None = None
    ai_generated: bool | None = None
    signer: str | None = None
    trusted: bool = False

    def to_dict(self) -> dict:
        return {"state": self.state, "detail": self.detail, "failures": list(self.failures),
                "content_id": self.content_id, "producer": self.producer,
                "ai_generated": self.ai_generated, "signer": self.signer,
                "trusted": self.trusted}


def manifest_definition(*, producer: str, content_id: str, title: str,
                        ai_generated: bool = True) -> dict:
    """The manifest: a ``c2pa.created`` action with its digital source type, and the clip's id."""
    created: dict = {"action": "c2pa.created", "softwareAgent": {"name": "content-factory"}}
    if ai_generated:
        created["digitalSourceType"] = TRAINED_ALGORITHMIC_MEDIA
    return {
        "claim_generator_info": [{"name": "content-factory", "version": "0.1.0"}],
        "title": title,
        "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [created]}},
            {"label": CONTENT_ASSERTION,
             "data": {"content_id": content_id, "producer": producer,
                      "ai_generated": ai_generated}},
        ],
    }


def sign_c2pa(src: Path, dst: Path, *, cert_chain: Path, private_key: Path, producer: str,
              content_id: str, ai_generated: bool = True) -> Path:
    """Write ``dst``: ``src`` with an embedded C2PA manifest signed by ``cert_chain``/``private_key``.

    ``cert_chain`` is PEM, leaf first then the CA(s); ``private_key`` the leaf's PEM key (P-256,
    ES256). ``dst`` must differ from ``src``; it appears only when signing succeeded.
    """
    import c2pa

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ConfigError(f"sign_c2pa: write the signed clip to a new path, not over {src}")
    if not src.is_file():
        raise ProvenanceError(f"{src}: no such clip to sign")
    try:
        certs, key = Path(cert_chain).read_bytes(), Path(private_key).read_bytes()
    except OSError as exc:
        raise ConfigError(f"C2PA certificate or key cannot be read ({exc}); set c2pa_cert and "
                          "c2pa_key to PEM files") from exc
    definition = manifest_definition(producer=producer, content_id=content_id, title=dst.name,
                                     ai_generated=ai_generated)
    tmp = dst.with_name(f".{dst.name}.c2pa.partial.mp4")
    try:
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, certs, key, None)
        with c2pa.Signer.from_info(info) as signer, \
                c2pa.Builder(json.dumps(definition)) as builder, \
                open(src, "rb") as source, open(tmp, "w+b") as dest:
            builder.sign(signer, "video/mp4", source, dest)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise ProvenanceError(f"signing {src} produced an empty file; check that the "
                                  "certificate is a CA-issued ES256 leaf (not self-signed)")
        os.replace(tmp, dst)
    except c2pa.C2paError as exc:
        raise ProvenanceError(f"C2PA signing of {src} with {cert_chain} failed: {exc}; the leaf "
                              "must be CA-issued, CA:FALSE, digitalSignature, emailProtection, "
                              "P-256") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def verify_c2pa(path: Path) -> C2paStatus:
    """Read and validate the C2PA manifest embedded in ``path``."""
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file to verify")
    try:
        with c2pa.Reader(str(path)) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in type(exc).__name__ or "not found" in text.lower() \
                or "no jumbf" in text.lower():
            return C2paStatus("absent", detail="no C2PA manifest in the file")
        return C2paStatus("invalid", detail=f"manifest unreadable: {text}")
    active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = [f"{f.get('code')}: {f.get('explanation', '')}".strip()
                for f in results.get("failure", [])]
    failure_codes = {f.get("code", "") for f in results.get("failure", [])}
    success_codes = {s.get("code", "") for s in results.get("success", [])}
    # An unknown signer (no trust list loaded) is reported as a failure code of its own; it says
    # who signed, not whether the file was changed, so it does not make the manifest invalid.
    integrity_failures = {c for c in failure_codes if c != "signingCredential.untrusted"}
    state = "invalid" if integrity_failures or not active else "valid"
    content = next((a.get("data", {}) for a in active.get("assertions", [])
                    if a.get("label") == CONTENT_ASSERTION), {})
    signer = (active.get("signature_info") or {}).get("common_name") \
        or (active.get("signature_info") or {}).get("issuer")
    detail = "signature and content hashes check out" if state == "valid" else \
        "; ".join(sorted(integrity_failures)) or "no active manifest"
    return C2paStatus(state, detail=detail, failures=failures,
                      content_id=content.get("content_id"), producer=content.get("producer"),
                      ai_generated=content.get("ai_generated"), signer=signer,
                      trusted="signingCredential.trusted" in success_codes)


def make_dev_certificate(directory: Path, *, days: int = 30) -> tuple[Path, Path]:
    """A throwaway DEVELOPMENT signing chain in ``directory``: ``(chain.pem, key.pem)``.

    A fresh P-256 root CA and a leaf issued by it (``CA:FALSE``, ``digitalSignature``,
    ``emailProtection``, the profile c2pa-python accepts). Nobody trusts this root: manifests it
    signs validate as unchanged-since-signing, never as coming from a known producer. For the
    demo and tests when no ``c2pa_cert``/``c2pa_key`` is configured; do not publish with it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "content-factory dev"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_name = name("content-factory DEVELOPMENT root CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name(DEV_CERT_NAME)).issuer_name(ca_name)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = directory / "dev-c2pa-chain.pem"
    key = directory / "dev-c2pa-key.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                      + ca.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key, 0o600)
    return chain, key
