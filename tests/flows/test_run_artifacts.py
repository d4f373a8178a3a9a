"""What a finished run shows in the Prefect UI: its name, contact sheets, the clip table, the
stabilization plot, the moderation decisions and a progress artifact at 100 % per render."""

from __future__ import annotations

import base64
import io
import re
import textwrap
from uuid import UUID

from PIL import Image

SPEC = """\
id: page-test
brand:
  name: Page Test
  colors: {primary: "#0F766E", secondary: "#F5D0A9", text: "#FFFFFF"}
output: {width: 320, height: 256, fps: 16}
locales: [en]
audio: none
script: |
  ## product: The product
  duration: 1s
  visual: A tea tin on a wooden table
  [en] Fresh tea, 20% off.
"""


def artifacts_of(flow_run_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)])))


def embedded_images(markdown: str) -> list[Image.Image]:
    found = re.findall(r"\(data:image/(?:jpeg|png);base64,([A-Za-z0-9+/=]+)\)", markdown)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_a_finished_run_has_named_flow_run_and_its_artifacts(prefect_harness, factory_env,
                                                             tmp_path):
    from prefect.client.orchestration import get_client

    from flows.campaign import campaign
    from storage.db import open_database
    from storage.models import Run

    spec = tmp_path / "campaign.yaml"
    spec.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    manifest = campaign(spec_path=str(spec), run_id="page-test-1")
    db = open_database(f"sqlite:///{factory_env / 'factory.db'}")
    with db.session() as s:
        flow_run_id = s.get(Run, "page-test-1").flow_run_id
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(UUID(flow_run_id)).name == "page-test-1"

    artifacts = artifacts_of(flow_run_id)
    by_type: dict[str, list] = {}
    for a in artifacts:
        by_type.setdefault(a.type, []).append(a)
    # One render, its progress at 100 %.
    assert [a.data for a in by_type["progress"]] == [100.0]
    # The clip table: one row, the published clip's hash and a decision that let it out.
    table = next(a for a in by_type["table"] if a.key == "page-test-clips")
    rows = table.data if isinstance(table.data, list) else __import__("json").loads(table.data)
    assert [(r["locale"], r["sha256"], r["decision"]) for r in rows] == \
        [("en", manifest["clips"][0]["sha256"], "allow")]
    assert rows[0]["clip"] == manifest["clips"][0]["url"] and rows[0]["srt"]
    markdown = {a.description: a.data for a in by_type["markdown"]}
    render = next(v for k, v in markdown.items() if k.startswith("contact sheet: render"))
    clip = next(v for k, v in markdown.items() if k.startswith("contact sheet: clip en"))
    for sheet in (render, clip):
        (image,) = embedded_images(sheet)
        assert image.format == "JPEG" and image.width > 3 * 200  # 3 frames of 240 px a row
        image.load()
    stabilize = next(v for k, v in markdown.items() if k.startswith("stabilization"))
    (plot,) = embedded_images(stabilize)
    assert plot.format == "PNG" and "| product |" in stabilize
    moderation = next(v for k, v in markdown.items() if k.startswith("moderation"))
    assert "| text |" in moderation and "| render |" in moderation and "nudenet" in moderation


def test_a_render_progress_artifact_moves_at_every_step(prefect_harness):
    from prefect import flow

    from tasks.report import RenderProgress

    @flow(name="progress-test")
    def steps() -> tuple[str, int]:
        progress = RenderProgress("intro", "k" * 64, interval_s=0.0).start()
        for done in range(1, 6):
            progress(done, 5)
        progress.finish("rendered")
        return str(progress.artifact_id), progress.updates

    artifact_id, updates = steps()
    assert updates == 6  # five steps and the finish
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterId

    with get_client(sync_client=True) as client:  # by id: a whole suite makes hundreds
        (mine,) = client.read_artifacts(artifact_filter=ArtifactFilter(
            id=ArtifactFilterId(any_=[UUID(artifact_id)])))
    assert mine.data == 100.0 and "rendered" in mine.description
