"""Signed by default: the local identity is made once (keys 0600), a configured certificate
replaces it, signatures are repeatable through the memo, and `verify` says who signed and
whether a trust anchor vouches for them."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from flows.settings import Settings
from flows.signing import c2pa_signer, c2pa_trust, signing_dir
from media.synthetic import storyboard_frames
from media.video import write_video
from storage.file_store import FileStore
from tasks.watermark.provenance import (
    DEV_CERT_NAME,
    make_dev_certificate,
    sign_c2pa_once,
    verify_c2pa,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sign") / "clip.mp4"
    write_video(path, storyboard_frames(12, 160, 96), fps=12)
    return path


def test_the_local_identity_is_made_once_with_private_keys(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", producer="Acme Studio")
    chain, key = c2pa_signer(settings)
    folder = signing_dir(settings)
    assert chain.parent == key.parent == folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "ca-key.pem").stat().st_mode) == 0o600
    first = chain.read_bytes()
    assert c2pa_signer(settings) == (chain, key) and chain.read_bytes() == first


def test_processes_racing_to_make_the_identity_agree_on_one(tmp_path):
    code = ("import hashlib, sys; from pathlib import Path; "
            "from tasks.watermark.provenance import load_or_create_identity; "
            "i = load_or_create_identity(Path(sys.argv[1]), organization='Race'); "
            "print(hashlib.sha256(i.chain.read_bytes()).hexdigest())")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "signing")], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    digests = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(digests) == 1 and all(p.returncode == 0 for p in procs)
    assert [p.name for p in tmp_path.iterdir()] == ["signing"]  # no temporary folders left


def test_a_configured_certificate_replaces_the_local_identity(tmp_path):
    chain, key = make_dev_certificate(tmp_path / "certs")
    settings = Settings(data_dir=tmp_path / "data", c2pa_cert=chain, c2pa_key=key)
    assert c2pa_signer(settings) == (chain, key)
    assert not signing_dir(settings).exists()  # nothing made when a certificate is configured


def test_signing_through_the_memo_gives_the_same_bytes_again(tmp_path, clip):
    chain, key = make_dev_certificate(tmp_path / "certs")
    memo = FileStore(tmp_path / "cache")
    kw = dict(cert_chain=chain, private_key=key, producer="Acme", content_id="cid-1")
    a = sign_c2pa_once(clip, tmp_path / "a" / "run.en.mp4", memo=memo, **kw)
    b = sign_c2pa_once(clip, tmp_path / "b" / "run.en.mp4", memo=memo, **kw)
    assert a.read_bytes() == b.read_bytes() and verify_c2pa(b).state == "valid"
    # Why the memo: the SDK salts each signature, so signing again gives other bytes.
    c = sign_c2pa_once(clip, tmp_path / "c" / "run.en.mp4", memo=None, **kw)
    assert hashlib.sha256(c.read_bytes()).digest() != hashlib.sha256(a.read_bytes()).digest()
    assert [i.key.split("/")[0] for i in memo.list("signed/")] == ["signed"]


def test_verify_names_the_signer_and_the_anchor_that_trusts_it(tmp_path, clip, monkeypatch,
                                                               capfd):
    from flows.cli import run_cli
    from flows.settings import get_settings

    chain, key = make_dev_certificate(tmp_path / "certs")
    signed = sign_c2pa_once(clip, tmp_path / "signed.mp4", cert_chain=chain, private_key=key,
                            producer="Acme", content_id="cid-2", memo=None)
    ca = tmp_path / "anchors.pem"
    ca.write_text(chain.read_text().split("-----END CERTIFICATE-----\n", 1)[1])
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    for name in ("C2PA_CERT", "C2PA_KEY", "C2PA_TRUST_ANCHORS"):
        monkeypatch.delenv(f"FACTORY_{name}", raising=False)
    get_settings.cache_clear()
    assert run_cli(["verify", str(signed), "--no-records"]) == 0
    c2pa = json.loads(capfd.readouterr().out)["c2pa"]
    assert (c2pa["state"], c2pa["signer"], c2pa["trusted"]) == ("valid", DEV_CERT_NAME, False)

    monkeypatch.setenv("FACTORY_C2PA_TRUST_ANCHORS", str(ca))
    get_settings.cache_clear()
    assert run_cli(["verify", str(signed), "--no-records"]) == 0
    c2pa = json.loads(capfd.readouterr().out)["c2pa"]
    assert c2pa["trusted"] and c2pa["trusted_by"] == "configured trust anchors"
    assert c2pa["issuer"] == "content-factory dev"
    assert set(c2pa_trust(get_settings())) == {"this factory's local signing identity",
                                               "configured trust anchors"}
    get_settings.cache_clear()
