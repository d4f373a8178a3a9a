"""The jobs API (flows/jobs.py) end to end: a campaign POSTed as JSON or YAML runs to completion
under Prefect's test harness and its clips download; wrong tokens get 401, bad specs 422 naming
the field; runs are listed."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from flows.ingest import IngestSettings, create_app
from flows.jobs import JobsConfig, LocalLauncher
from media.video import probe

TOKEN = "jobs-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

SPEC = {
    "id": "jobs-test",
    "brand": {"name": "Jobs Test"},
    "output": {"width": 256, "height": 256, "fps": 16, "delivery_fps": 16},
    "locales": ["en", "de"],
    "audio": "none",
    "script": "## hero: Tea\nduration: 1s\nvisual: A tea tin on a table\n"
              "[en] Fresh tea.\n[de] Frischer Tee.\n",
}

YAML_SPEC = """\
id: jobs-yaml
brand: {name: Jobs Yaml}
output:
  width: 250
  height: 256
locales: [en]
script: |
  ## hero
  visual: A tea tin
"""


class DeadLauncher:
    """Never called by the validation tests: a call would fail them."""

    def campaign(self, **kwargs):
        raise AssertionError(f"started a run for an invalid request: {kwargs}")

    product = campaign


def client_for(factory_env, launcher) -> TestClient:
    from flows.settings import get_settings

    settings = get_settings()
    app = create_app(IngestSettings(secret=SecretStr("s")), database_url=settings.database_url,
                     emitter=lambda **kw: "x",
                     jobs=JobsConfig(token=TOKEN, database_url=settings.database_url,
                                     data_dir=factory_env, launcher=launcher))
    return TestClient(app)


@pytest.fixture
def client(factory_env) -> TestClient:
    return client_for(factory_env, DeadLauncher())


def test_a_campaign_posted_runs_to_completion_and_its_clips_download(prefect_harness,
                                                                      factory_env, tmp_path):
    from flows.settings import get_settings

    client = client_for(factory_env, LocalLauncher(get_settings().database_url))
    posted = client.post("/campaigns", json={"spec": SPEC, "backend": "animatic"}, headers=AUTH)
    assert posted.status_code == 202, posted.text
    run_id = posted.json()["run_id"]
    assert run_id.startswith("jobs-test-") and posted.json()["status_url"].endswith(run_id)

    seen, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(f"/runs/{run_id}", headers=AUTH).json()
        seen.append((status["state"], status["stage"], status["progress"]))
        if status["state"] not in ("queued", "running"):
            break
        time.sleep(0.3)
    assert status["state"] == "completed", (status, seen)
    assert status["stage"] == "done" and status["progress"] == 1.0
    assert status["shots"] == {"total": 1, "rendered": 1} and status["duration_s"] > 0
    progress = [p for _, _, p in seen]
    assert progress == sorted(progress)  # never goes backwards

    clips = {c["locale"]: c for c in status["clips"]}
    assert sorted(clips) == ["de", "en"]
    for locale, clip in clips.items():
        assert clip["url"].startswith("file://")
        video = client.get(clip["download_url"], headers=AUTH)
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        saved = tmp_path / f"{locale}.mp4"
        saved.write_bytes(video.content)
        info = probe(saved)
        assert (info.width, info.height) == (256, 256) and info.duration >= 0.9
        assert len(video.content) == clip["size_bytes"]

    listed = client.get("/runs", headers=AUTH).json()["runs"]
    assert listed[0]["run_id"] == run_id and len(listed[0]["clips"]) == 2
    # A unique prefix of the id names the run too.
    assert client.get(f"/runs/{run_id[:-3]}", headers=AUTH).json()["run_id"] == run_id


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {TOKEN}"}])
def test_a_missing_or_wrong_token_gets_401(client, headers):
    for method, path in (("post", "/campaigns"), ("post", "/products"), ("get", "/runs"),
                         ("get", "/runs/x")):
        answer = getattr(client, method)(path, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["field"] == "Authorization"
        assert answer.headers["www-authenticate"] == "Bearer"


def test_a_bad_spec_gets_422_naming_the_field(client):
    bad = {**SPEC, "output": {**SPEC["output"], "width": 250}}
    answer = client.post("/campaigns", json=bad, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["field"] == "output" and "multiples of 16" in answer.json()["detail"]

    answer = client.post("/campaigns", content=YAML_SPEC.encode(),
                         headers={**AUTH, "Content-Type": "application/yaml"})
    assert answer.status_code == 422 and answer.json()["field"] == "output"
    assert answer.json()["line"] == 3  # the body's own line

    answer = client.post("/campaigns", json={**SPEC, "locales": ["en", "xx_YY!"]}, headers=AUTH)
    assert answer.status_code == 422 and answer.json()["field"] == "locales"

    script = "## hero\nvisual: A tin\n[fr] Bonjour\n"
    answer = client.post("/campaigns", json={"spec": SPEC, "script": script}, headers=AUTH)
    assert answer.status_code == 422 and answer.json()["field"] == "shots.hero.caption[fr]"
    assert "tmp" not in answer.json()["detail"]  # the server's paths stay out of answers

    answer = client.post("/campaigns", json={"spec": SPEC, "backend": "gpu9"}, headers=AUTH)
    assert answer.status_code == 422 and answer.json()["field"] == "backend"


def test_a_caption_that_cannot_fit_a_format_gets_422_naming_field_and_locale(client):
    # the layout check `validate` makes: a run the API accepts never fails on its overlays
    long = "لؤلؤ الياسمين عاد إلينا من جديد، خصم عشرين بالمئة على كل العلب هذا الأسبوع"
    spec = {**SPEC, "output": {"width": 480, "height": 832, "formats": ["9:16"]},
            "locales": ["en", "ar"],
            "script": f"## offer\nduration: 1.5s\nvisual: A tea tin\n[en] Tea.\n[ar] {long}\n"}
    answer = client.post("/campaigns", json=spec, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "shots.offer.caption[ar]"
    assert "9:16" in answer.json()["detail"]


def test_bodies_are_held_to_the_ingest_rules(client):
    answer = client.post("/campaigns", content=b'{"id": NaN}', headers=AUTH)
    assert answer.status_code == 422 and answer.json()["field"] == "id"
    answer = client.post("/campaigns", content=b"\xff\xfe", headers=AUTH)
    assert answer.status_code == 400
    answer = client.post("/campaigns", content=b"a: *x\n", headers={
        **AUTH, "Content-Type": "application/yaml"})
    assert answer.status_code == 422 and "alias" in answer.json()["detail"]
    answer = client.post("/campaigns", content=b"{" * 40 + b"}" * 40, headers=AUTH)
    assert answer.status_code == 400
    answer = client.post("/campaigns", content=b"x" * (1024 * 1024 + 1), headers=AUTH)
    assert answer.status_code == 413


def test_a_product_record_is_validated_like_the_webhook(client):
    answer = client.post("/products", json={"sku": "TEA-1", "title": "Tea", "price": -1,
                                            "locales": ["en"]}, headers=AUTH)
    assert answer.status_code == 422 and answer.json()["field"] == "price"


def test_an_unknown_run_is_404_naming_it(client):
    answer = client.get("/runs/nope", headers=AUTH)
    assert answer.status_code == 404 and "nope" in answer.json()["detail"]


def test_openapi_docs_list_the_jobs_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/campaigns", "/products", "/runs", "/runs/{run_id}"} <= set(paths)
    assert client.get("/docs").status_code == 200
