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

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from common.errors import ConfigError, MediaError, ProvenanceError, one_line
from storage.objects import ObjectStore, sha256_file

CONTENT_ASSERTION = "org.content-factory.clip"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
DEV_CERT_NAME = "content-factory DEVELOPMENT signer - do not publish"  # CN: <= 64 chars


@dataclass(frozen=True)
class C2paStatus:
    """What a clip's C2PA manifest says about it.

    ``state``: ``valid`` (signature and content hashes check out), ``invalid`` (a manifest is
    there but the file was changed after signing, or the signature is bad) or ``absent``.
    ``signer`` is the signing certificate's common name and ``issuer`` its organisation.
    ``trusted`` tells whether the signer chains to a trust anchor the reader was given, and
    ``trusted_by`` which one (``verify`` passes this factory's local signing identity and the
    configured ``c2pa_trust_anchors``); a development certificate never is.
    """

    state: Literal["valid", "invalid", "absent"]
    detail: str = ""
    failures: list[str] = field(default_factory=list)
    content_id: str | None = None
    producer: str | None = None
    ai_generated: bool | None = None
    signer: str | None = None
    trusted: bool = False
    issuer: str | None = None
    trusted_by: str | None = None

    def to_dict(self) -> dict:
        return {"state": self.state, "detail": self.detail, "failures": list(self.failures),
                "content_id": self.content_id, "producer": self.producer,
                "ai_generated": self.ai_generated, "signer": self.signer, "issuer": self.issuer,
                "trusted": self.trusted, "trusted_by": self.trusted_by}


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
    dst.parent.mkdir(parents=True, exist_ok=True)
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


def _read_manifest(path: Path, anchors: str | None) -> dict:
    import c2pa

    if anchors is None:
        with c2pa.Reader(str(path)) as reader:
            return json.loads(reader.json())
    settings = c2pa.Settings.from_dict({"verify": {"verify_trust": True},
                                        "trust": {"trust_anchors": anchors}})
    with c2pa.Reader(str(path), context=c2pa.Context(settings=settings)) as reader:
        return json.loads(reader.json())


def verify_c2pa(path: Path, *, trust: dict[str, Path] | None = None) -> C2paStatus:
    """Read and validate the C2PA manifest embedded in ``path``.

    ``trust`` names PEM files of trust anchors (``{"local signing identity": ca.pem, ...}``);
    the first that the signer chains to is reported as ``trusted_by``. Files that do not exist
    are skipped.
    """
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file to verify")
    sources = [(name, Path(pem).read_text()) for name, pem in (trust or {}).items()
               if pem and Path(pem).is_file()]
    trusted_by = None
    try:
        store = _read_manifest(path, None)
        for name, anchors in sources:
            with_trust = _read_manifest(path, anchors)
            codes = {s.get("code", "") for s in with_trust.get("validation_results", {})
                     .get("activeManifest", {}).get("success", [])}
            if "signingCredential.trusted" in codes:
                store, trusted_by = with_trust, name
                break
    except c2pa.C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in type(exc).__name__ or "not found" in text.lower() \
                or "no jumbf" in text.lower():
            return C2paStatus("absent", detail="no C2PA manifest in the file")
        return C2paStatus("invalid", detail=f"manifest unreadable: {one_line(text, 300)}")
    active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = [f"{f.get('code')}: {f.get('explanation', '')}".strip()
                for f in results.get("failure", [])]
    failure_codes = {f.get("code", "") for f in results.get("failure", [])}
    # An unknown signer (no trust list loaded) is reported as a failure code of its own; it says
    # who signed, not whether the file was changed, so it does not make the manifest invalid.
    integrity_failures = {c for c in failure_codes if c != "signingCredential.untrusted"}
    state = "invalid" if integrity_failures or not active else "valid"
    content = next((a.get("data", {}) for a in active.get("assertions", [])
                    if a.get("label") == CONTENT_ASSERTION), {})
    info = active.get("signature_info") or {}
    detail = "signature and content hashes check out" if state == "valid" else \
        "; ".join(sorted(integrity_failures)) or "no active manifest"
    return C2paStatus(state, detail=detail, failures=failures,
                      content_id=content.get("content_id"), producer=content.get("producer"),
                      ai_generated=content.get("ai_generated"),
                      signer=info.get("common_name") or info.get("issuer"),
                      issuer=info.get("issuer"), trusted=trusted_by is not None,
                      trusted_by=trusted_by)


@dataclass(frozen=True)
class SigningIdentity:
    """A signing chain on disk: the leaf's chain (leaf, then CA) and key, and the root CA, which
    a reader can be given as a trust anchor."""

    chain: Path
    key: Path
    ca: Path
    name: str


def _issue_chain(*, organization: str, ca_name: str, leaf_name: str, days: int
                 ) -> tuple[bytes, bytes, bytes, bytes]:
    """A fresh P-256 root CA and a leaf it issued (``CA:FALSE``, ``digitalSignature``,
    ``emailProtection``: the profile c2pa-python accepts, docs/reference/platform-facts.md).
    Returns PEM bytes: (leaf + CA chain, leaf key, CA certificate, CA key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64]),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn[:64])])

    usage = {"content_commitment": False, "key_encipherment": False, "data_encipherment": False,
             "key_agreement": False, "encipher_only": False, "decipher_only": False}
    ca_subject = name(ca_name)
    ca = (x509.CertificateBuilder().subject_name(ca_subject).issuer_name(ca_subject)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       **usage), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name(leaf_name)).issuer_name(ca_subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False,
                                         crl_sign=False, **usage), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))

    def key_pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    return (leaf.public_bytes(serialization.Encoding.PEM) + ca_pem, key_pem(leaf_key), ca_pem,
            key_pem(ca_key))


def _write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only: created with mode 0600, never wider."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_dev_certificate(directory: Path, *, days: int = 30) -> tuple[Path, Path]:
    """A throwaway DEVELOPMENT signing chain in ``directory``: ``(chain.pem, key.pem)``.

    A fresh P-256 root CA and a leaf issued by it (``CA:FALSE``, ``digitalSignature``,
    ``emailProtection``, the profile c2pa-python accepts). Nobody trusts this root: manifests it
    signs validate as unchanged-since-signing, never as coming from a known producer. For tests
    and ``watermark --dev-cert``; do not publish with it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chain_pem, key_pem, _, _ = _issue_chain(organization="content-factory dev",
                                            ca_name="content-factory DEVELOPMENT root CA",
                                            leaf_name=DEV_CERT_NAME, days=days)
    chain, key = directory / "dev-c2pa-chain.pem", directory / "dev-c2pa-key.pem"
    chain.write_bytes(chain_pem)
    key.unlink(missing_ok=True)
    _write_private(key, key_pem)
    return chain, key


LOCAL_IDENTITY_DAYS = 10 * 365
_IDENTITY_FILES = ("chain.pem", "key.pem", "ca.pem", "ca-key.pem")


def local_identity(directory: Path) -> SigningIdentity | None:
    """The local signing identity in ``directory``, if one was made there."""
    directory = Path(directory)
    if not all((directory / name).is_file() for name in _IDENTITY_FILES):
        return None
    from cryptography import x509

    leaf = x509.load_pem_x509_certificates((directory / "chain.pem").read_bytes())[0]
    cn = leaf.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return SigningIdentity(chain=directory / "chain.pem", key=directory / "key.pem",
                           ca=directory / "ca.pem", name=str(cn[0].value) if cn else "")


def load_or_create_identity(directory: Path, *, organization: str) -> SigningIdentity:
    """This factory's own signing identity, made on first use: a private root CA and a leaf it
    issued, valid ten years, in ``directory`` (the folder 0700, the keys 0600).

    Clips signed with it validate as unchanged since signing, and ``verify`` on this factory
    trusts its root; anyone else trusts it only if given ``ca.pem``. A deployment that must be
    trusted by others configures a CA-issued certificate instead (``c2pa_cert``/``c2pa_key``).
    Several processes may ask at once: the identity is made in a temporary folder and renamed
    into place, so all of them end up with the same one.
    """
    directory = Path(directory)
    found = local_identity(directory)
    if found is not None:
        return found
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        chain_pem, key_pem, ca_pem, ca_key_pem = _issue_chain(
            organization=organization, ca_name=f"{organization} local root CA",
            leaf_name=f"{organization} local signer", days=LOCAL_IDENTITY_DAYS)
        (tmp / "chain.pem").write_bytes(chain_pem)
        (tmp / "ca.pem").write_bytes(ca_pem)
        _write_private(tmp / "key.pem", key_pem)
        _write_private(tmp / "ca-key.pem", ca_key_pem)
        os.chmod(tmp, 0o700)
        try:
            os.rename(tmp, directory)  # atomic; fails if another process got there first
        except OSError:
            if local_identity(directory) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    found = local_identity(directory)
    assert found is not None
    return found


def signed_memo_key(src: Path, *, cert_chain: Path, definition: dict) -> str:
    """Where the signed form of ``src`` is kept: a hash of the bytes signed, the signer and the
    manifest."""
    h = hashlib.sha256()
    h.update(bytes.fromhex(sha256_file(src)))
    h.update(hashlib.sha256(Path(cert_chain).read_bytes()).digest())
    h.update(json.dumps(definition, sort_keys=True).encode())
    return f"signed/{h.hexdigest()}.mp4"


def sign_c2pa_once(src: Path, dst: Path, *, cert_chain: Path, private_key: Path, producer: str,
                   content_id: str, memo: ObjectStore | None, ai_generated: bool = True) -> Path:
    """:func:`sign_c2pa`, made repeatable: the same bytes signed by the same signer with the same
    manifest give the same signed file every time.

    A C2PA signature is not a function of its input: the SDK salts every assertion with random
    bytes (and ECDSA itself is randomised), so signing a clip again gives other bytes, another
    content-derived key, and a second published object for one clip. The first signed result is
    therefore kept in ``memo`` (the template cache's store, under ``signed/``) and handed back
    when the same input comes again, as on a rerun. Without ``memo`` every call signs anew.
    """
    definition = manifest_definition(producer=producer, content_id=content_id,
                                     title=Path(dst).name, ai_generated=ai_generated)
    key = signed_memo_key(src, cert_chain=cert_chain, definition=definition) if memo else None
    if memo is not None and key is not None and memo.exists(key):
        memo.get_file(key, dst)
        return Path(dst)
    sign_c2pa(src, dst, cert_chain=cert_chain, private_key=private_key, producer=producer,
              content_id=content_id, ai_generated=ai_generated)
    if memo is not None and key is not None:
        memo.put_file(key, dst, metadata={"content-id": content_id})
    return Path(dst)
