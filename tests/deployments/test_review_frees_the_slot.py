"""A run waiting for review never holds the GPU: under `serve`'s workers (one gpu slot), a
campaign suspended for review leaves its slot, a second campaign renders and completes while the
first waits, and the first completes once approved."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import httpx
import pytest

from deployments.local import LocalFactory, LocalOptions, free_port
from tests.deployments.test_local_factory import wait_for

pytestmark = pytest.mark.slow

SPEC = """\
id: {id}
brand:
  name: Slot Test
  colors: {{primary: "#0F766E", secondary: "#F5D0A9", text: "#FFFFFF"}}
output: {{width: 320, height: 256, fps: 16}}
locales: [en]
audio: none
script: |
  ## only: The shot
  duration: 1s
  visual: A tea tin on a wooden table
  [en] {caption}
"""


def write_spec(folder: Path, campaign_id: str, caption: str) -> Path:
    path = folder / campaign_id / "campaign.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(SPEC.format(id=campaign_id, caption=caption)),
                    encoding="utf-8")
    return path


def test_a_second_run_completes_while_the_first_waits_for_review(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.review import decide_review
    from storage.db import open_database
    from storage.models import Run
    from storage.reviews import pending_reviews

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "PREFECT_"))}
    env.update({"FACTORY_BACKEND": "animatic", "PREFECT_LOGGING_LEVEL": "WARNING"})
    data = tmp_path / "data"
    options = LocalOptions(prefect_home=tmp_path / "prefect", data_dir=data,
                           prefect_port=free_port(), ingest_port=free_port(), ui=False,
                           poll_s=1.0, gpus=1, pause_schedules=True, log_dir=tmp_path / "logs")
    waiting = write_spec(tmp_path, "needs-review", "A naked truth about tea.")
    plain = write_spec(tmp_path, "plain", "Fresh tea, 20% off.")
    with LocalFactory(options, env=env) as factory:
        api = factory.api_url
        deployment = factory.registered.deployments["campaign/on-demand"]

        def start(spec: Path) -> str:
            r = httpx.post(f"{api}/deployments/{deployment}/create_flow_run", timeout=60,
                           json={"parameters": {"spec_path": str(spec)}})
            r.raise_for_status()
            return r.json()["id"]

        def state(flow_run_id: str) -> tuple[str, str]:
            r = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=60)
            r.raise_for_status()
            return r.json()["state"]["type"], r.json()["state"]["name"]

        first = start(waiting)
        wait_for(lambda: state(first) == ("PAUSED", "Suspended"), 240,
                 "the first run to be suspended for review")
        second = start(plain)
        wait_for(lambda: state(second)[0] in ("COMPLETED", "FAILED", "CRASHED"), 240,
                 "the second run to finish")
        assert state(second)[0] == "COMPLETED", (tmp_path / "logs" / "worker-gpu.log").read_text()
        assert state(first) == ("PAUSED", "Suspended")  # still waiting, holding no slot

        db = open_database(f"sqlite:///{data / 'factory.db'}")
        with db.session() as s:
            (review,) = pending_reviews(s)
            assert review.flow_run_id == first and review.subject_kind == "text"
        with temporary_settings({PREFECT_API_URL: api}):
            outcome = decide_review(db, review.id, approved=True, reviewer="ann")
        assert outcome.resumed, outcome.message
        wait_for(lambda: state(first)[0] in ("COMPLETED", "FAILED", "CRASHED"), 240,
                 "the first run to finish after its approval")
        assert state(first)[0] == "COMPLETED", (tmp_path / "logs" / "worker-gpu.log").read_text()
        with db.session() as s:
            runs = {r.campaign_id: r for r in s.query(Run).all()}
            # One run record per campaign: the resumed flow run carried on under its run id.
            assert sorted(runs) == ["needs-review", "plain"]
            assert all(r.state == "completed" for r in runs.values())
            assert runs["needs-review"].flow_run_id == first
