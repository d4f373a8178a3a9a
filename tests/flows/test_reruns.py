"""Reruns leave nothing behind: a rerun makes byte-identical, signed clips and publishes nothing
new; a run killed while publishing, rerun, leaves one object per clip and no temporary files."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storage.objects import sha256_file
from tasks.watermark import verify_c2pa

from .test_campaign_flow import SPEC

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spec_path(tmp_path) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and its SHA-256."""
    return {p.relative_to(folder).as_posix(): sha256_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_rerun_makes_identical_signed_clips_and_publishes_nothing_new(
        prefect_harness, factory_env, spec_path, render_calls):
    from flows.campaign import campaign
    from flows.settings import get_settings
    from flows.signing import c2pa_trust

    first = campaign(spec_path=str(spec_path), run_id="rerun-1")
    store = factory_env / "store"
    before = snapshot(store)
    renders = len(render_calls)
    again = campaign(spec_path=str(spec_path), run_id="rerun-1")
    assert len(render_calls) == renders  # nothing rendered twice
    assert snapshot(store) == before  # not one object added, removed or changed
    assert [(c["key"], c["sha256"]) for c in again["clips"]] == \
        [(c["key"], c["sha256"]) for c in first["clips"]]
    assert not any(c["uploaded"] for c in again["clips"])

    # Signed by default, with the identity made on first use (keys 0600, folder 0700).
    signing = factory_env / "signing"
    assert stat.S_IMODE(signing.stat().st_mode) == 0o700
    for name in ("key.pem", "ca-key.pem"):
        assert stat.S_IMODE((signing / name).stat().st_mode) == 0o600
    trust = c2pa_trust(get_settings())
    for clip in first["clips"]:
        status = verify_c2pa(store / clip["key"], trust=trust)
        assert status.state == "valid", status.failures
        assert status.signer == "content-factory local signer"
        assert status.trusted and status.trusted_by == "this factory's local signing identity"
        assert status.content_id == clip["content_id"]


def test_a_run_killed_while_publishing_reruns_to_one_object_per_clip(
        prefect_harness, factory_env, spec_path, capsys):
    from prefect.settings import PREFECT_API_URL

    from flows.campaign import campaign

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_API_URL": PREFECT_API_URL.value()}
    # Killed as the 4th object goes into the store: the first clip's video, SRT and WebVTT are
    # uploaded, the second clip's video is in place without its metadata, nothing is recorded.
    killed = subprocess.run([sys.executable, "-m", "tests.flows.kill_publish_worker",
                             str(spec_path), "killed-1", "4"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    store = factory_env / "store"
    prefix = store / "flow-test" / "killed-1"
    assert len([p for p in prefix.rglob("*") if p.is_file()]) == 4  # what the dead run left

    manifest = campaign(spec_path=str(spec_path), run_id="killed-1")
    objects = sorted(p.relative_to(store).as_posix() for p in prefix.rglob("*") if p.is_file())
    listed = sorted([c["key"] for c in manifest["clips"]]
                    + [s["key"] for c in manifest["clips"] for s in c["sidecars"].values()]
                    + [manifest["manifest_key"]])
    assert objects == listed  # exactly one video, SRT and WebVTT per clip, and the manifest
    assert len([k for k in objects if "/video-" in k]) == len(manifest["clips"]) == 2
    leftovers = [p for p in factory_env.rglob("*") if p.name.endswith(".partial")
                 or ".partial." in p.name]
    assert leftovers == []
    metas = [p for p in (store / ".meta").rglob("*.json")]
    assert all((store / p.relative_to(store / ".meta").as_posix().removesuffix(".json")).is_file()
               for p in metas)
    for clip in manifest["clips"]:
        assert sha256_file(store / clip["key"]) == clip["sha256"]
    saved = json.loads((store / manifest["manifest_key"]).read_text())
    with capsys.disabled():
        print(f"\nkilled-then-rerun: {len(objects)} objects in the store under the run, "
              f"{len(listed)} in the manifest ({len(saved['clips'])} clips), 0 temporary files")
