"""Check in a headless browser what a finished run shows in the UI of `content-factory serve`.

    python scripts/check_ui.py [--out docs/images] [--keep]

Starts `content-factory serve` (free ports, a temporary data folder, the animatic backend),
runs a small campaign through the `campaign/on-demand` deployment, then opens the finished run's
page in headless Chromium (scripts/browser.py, DevTools protocol) and checks:

- the run is named after its campaign and run id, and its Artifacts tab lists them;
- the clip's contact sheet page answers HTTP 200 and its image is decoded (naturalWidth > 0);
- the clip table shows the clip's locale and SHA-256;
- the render's progress artifact is at 100 %;
- a second campaign whose caption needs review is suspended, and its Resume form shows the
  reasons, the detector and the captions per locale.

Screenshots go to OUT/ui-*.png (scaled down to stay small). Exit code 0 when every check
passes, 1 otherwise; each check prints one line. Needs Chromium (`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from browser import Browser  # noqa: E402

SPEC = """\
id: ui-check
name: UI check
brand:
  name: UI Check
  colors: {primary: "#0F766E", secondary: "#F5D0A9", text: "#FFFFFF"}
output: {width: 512, height: 288, fps: 16}
locales: [en]
audio: none
script: |
  ## product: The product
  duration: 2s
  camera: slow push-in
  visual: A tea tin on a wooden table
  [en] Fresh tea, 20% off.
"""

# A caption the term lists send to review: the run waits, and its form shows why.
REVIEW_SPEC = SPEC.replace("id: ui-check", "id: ui-review").replace(
    "[en] Fresh tea, 20% off.", "[en] The naked truth about tea.")

SHOT_WIDTH = 1000  # screenshots are scaled to this width: readable, and tens of kB


def api(base: str, path: str, body: dict | None = None, retry_s: float = 120.0):
    """One Prefect API call; a 5xx is retried: Prefect's SQLite server answers 503 while its
    writers contend on a busy machine."""
    deadline = time.monotonic() + retry_s
    while True:
        request = urllib.request.Request(
            f"{base}{path}", data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
            method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return json.load(r)
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or time.monotonic() > deadline:
                raise
        time.sleep(1)


def status_of(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status


def small_png(path: Path) -> None:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if image.width > SHOT_WIDTH:
        image = image.resize((SHOT_WIDTH, round(image.height * SHOT_WIDTH / image.width)),
                             Image.LANCZOS)
    buffer = io.BytesIO()
    image.quantize(colors=128).save(buffer, format="PNG", optimize=True)
    path.write_bytes(buffer.getvalue())


class Checks:
    def __init__(self) -> None:
        self.failed = 0

    def __call__(self, ok: bool, what: str, detail: str = "") -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {what}{f': {detail}' if detail else ''}", flush=True)
        self.failed += not ok
        return ok


def check_pages(browser: Browser, check: Checks, base: str, run_page: str, out: Path,
                sheet: dict, table: dict, progress: list[dict]) -> list[Path]:
    """Open the run page and its artifacts' pages; the screenshots taken."""
    shots = []
    # The run page and its Artifacts tab.
    browser.open(run_page)
    browser.wait_for("[...document.querySelectorAll('li.p-tab')]"
                     ".some(e => e.textContent.trim() === 'Artifacts')", 60,
                     "the run page's tabs")
    # Click the tab until its cards show (the page may still be loading the run).
    cards = browser.wait_for(
        "(() => { const tab = [...document.querySelectorAll('li.p-tab')]"
        ".find(e => e.textContent.trim() === 'Artifacts'); tab && tab.click();"
        " [...document.querySelectorAll('*')].forEach(e => {"
        "   if (e.scrollHeight > e.clientHeight + 40) e.scrollTop = e.scrollHeight; });"
        " window.scrollTo(0, document.body.scrollHeight);"
        " const t = document.body.innerText.toUpperCase();"
        " return t.includes('PROGRESS') && t.includes('TABLE') && t.includes('MARKDOWN')"
        " ? t : '' })()", 60, "the artifact cards")
    time.sleep(1)
    browser.evaluate("[...document.querySelectorAll('li.p-tab')]"
                     ".find(e => e.textContent.trim() === 'Artifacts').scrollIntoView()")
    time.sleep(0.5)
    check(all(cards.count(k) >= 1 for k in ("MARKDOWN", "TABLE", "PROGRESS")),
          "the run page's Artifacts tab lists them",
          f"{cards.count('MARKDOWN')} markdown, {cards.count('TABLE')} table, "
          f"{cards.count('PROGRESS')} progress")
    shots.append(browser.screenshot(out / "ui-run-artifacts.png"))

    # The clip's contact sheet: the page answers and the image is decoded.
    # The image is embedded in the artifact: the UI fetches it with the artifact (this API
    # call), and no other request is needed, so it shows offline.
    source = f"{base}/api/artifacts/{sheet['id']}"
    check(status_of(source) == 200, "the contact sheet's artifact answers HTTP 200", source)
    page = f"{base}/artifacts/artifact/{sheet['id']}"
    browser.open(page)
    size = browser.wait_for(
        "(() => { const i = [...document.images].find(i => i.src.startsWith('data:'));"
        " return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight]"
        " : null })()", 60, "the decoded contact sheet image")
    check(bool(size) and size[0] > 600, "the clip's contact sheet image is decoded",
          f"{size[0]}x{size[1]} px")
    shots.append(browser.screenshot(out / "ui-clip-sheet.png"))

    # The clip table.
    browser.open(f"{base}/artifacts/artifact/{table['id']}")
    sha = (json.loads(table["data"]) if isinstance(table["data"], str)
           else table["data"])[0]["sha256"]
    # Until the cells are filled in (the table renders its rows before their text).
    rows = browser.wait_for(
        "(() => { const rows = [...document.querySelectorAll('table tbody tr')].map(r =>"
        " [...r.querySelectorAll('td')].map(c => c.textContent.trim()));"
        f" return rows.some(r => r.includes('{sha}')) ? rows : null }})()", 60,
        "the clip table's rows")
    check(len(rows) == 1 and "en" in rows[0] and sha in rows[0],
          "the clip table shows the clip", " | ".join(cell[:40] for cell in rows[0]))
    shots.append(browser.screenshot(out / "ui-clip-table.png"))

    # The render's progress artifact.
    values = [a["data"] for a in progress]
    browser.open(f"{base}/artifacts/artifact/{progress[0]['id']}")
    shown = browser.wait_for(
        "(() => { const t = document.body.innerText; const m = t.match(/(\\d+)%/);"
        " return m ? m[0] : '' })()", 60, "the progress percentage")
    check(values == [100.0] * len(values) and shown == "100%",
          "the render's progress artifact is at 100 %",
          f"API {values}, page shows {shown}")
    shots.append(browser.screenshot(out / "ui-progress.png"))
    return shots


def check_review(browser: Browser, check: Checks, base: str, flow_run_id: str, out: Path
                 ) -> list[Path]:
    """The run waiting for review: suspended, and its Resume form shows why and what."""
    deadline = time.monotonic() + 300
    while (state := api(base, f"/api/flow_runs/{flow_run_id}")["state"])["name"] != "Suspended":
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED") or time.monotonic() > deadline:
            break
        time.sleep(1)
    if not check(state["name"] == "Suspended", "the run needing review is suspended",
                 f"{state['type']} {state['name']}"):
        return []
    browser.open(f"{base}/runs/flow-run/{flow_run_id}")
    browser.wait_for(
        "(() => { const b = [...document.querySelectorAll('button')]"
        ".find(e => e.textContent.trim() === 'Resume'); b && b.click(); return !!b })()",
        60, "the Resume button")
    form = browser.wait_for(
        "(() => { const t = document.body.innerText;"
        " return t.includes('Captions per locale') ? t : '' })()", 60, "the review form")
    time.sleep(1)
    check("is sexual" in form and "Detector: terms" in form
          and "The naked truth about tea." in form,
          "the review form shows the reasons, the detector and the captions per locale",
          next((line for line in form.splitlines() if "is sexual" in line), "")[:100])
    return [browser.screenshot(out / "ui-review.png")]


def start_serve(work: Path, port: int, ingest_port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "PREFECT_"))}
    env.update({"FACTORY_DATA_DIR": str(work / "data"), "FACTORY_BACKEND": "animatic",
                "PREFECT_LOGGING_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)})
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--ingest-port",
         str(ingest_port), "--poll", "1", "--logs", str(work / "logs")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    parser.add_argument("--serving", metavar="URL", help="check a `serve` already running at "
                        "URL (e.g. http://127.0.0.1:4200) instead of starting one")
    args = parser.parse_args()
    from deployments.local import free_port

    check = Checks()
    work = Path(tempfile.mkdtemp(prefix="cf-ui-check-"))
    spec = work / "ui-check" / "campaign.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    port, ingest_port = free_port(), free_port()
    base = args.serving.rstrip("/") if args.serving else f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    serve = start_serve(work, port, ingest_port) if not args.serving else None
    try:
        for line in serve.stdout if serve is not None else ():
            if "Ctrl-C stops everything" in line:
                break
            if "exited" in line or "error" in line.lower():
                print(line.rstrip())
        if serve is not None and not check(serve.poll() is None, "content-factory serve started",
                                           f"{time.monotonic() - t0:.1f} s, UI at {base}"):
            return 1
        deployments = api(base, "/api/deployments/filter", {})
        deployment = next(d["id"] for d in deployments if d["name"] == "on-demand"
                          and "campaign" in d["entrypoint"])
        t1 = time.monotonic()
        run = api(base, f"/api/deployments/{deployment}/create_flow_run",
                  {"parameters": {"spec_path": str(spec)}})
        flow_run_id = run["id"]
        deadline = time.monotonic() + 600
        while True:
            state = api(base, f"/api/flow_runs/{flow_run_id}")
            if state["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        if not check(state["state"]["type"] == "COMPLETED", "the campaign run completed",
                     f"{state['state']['type']} in {time.monotonic() - t1:.1f} s, "
                     f"flow run {state['name']!r}"):
            print((work / "logs" / "worker-gpu.log").read_text()[-3000:])
            return 1
        check(state["name"].startswith("ui-check-"), "the flow run is named after campaign and run",
              state["name"])
        artifacts = api(base, "/api/artifacts/filter",
                        {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
        kinds = sorted({a["type"] for a in artifacts})
        check({"markdown", "table", "progress"} <= set(kinds), "the run has its artifacts",
              f"{len(artifacts)} artifacts: {', '.join(kinds)}")
        sheet = next(a for a in artifacts if (a.get("description") or "")
                     .startswith("contact sheet: clip en"))
        table = next(a for a in artifacts if a["type"] == "table")
        progress = [a for a in artifacts if a["type"] == "progress"]
        run_page = f"{base}/runs/flow-run/{flow_run_id}"
        args.out.mkdir(parents=True, exist_ok=True)
        review_spec = work / "ui-review" / "campaign.yaml"
        review_spec.parent.mkdir(parents=True)
        review_spec.write_text(textwrap.dedent(REVIEW_SPEC), encoding="utf-8")
        waiting = api(base, f"/api/deployments/{deployment}/create_flow_run",
                      {"parameters": {"spec_path": str(review_spec)}})["id"]
        shots = []
        with Browser(width=1400, height=1300) as browser:
            try:
                shots += check_pages(browser, check, base, run_page, args.out, sheet, table,
                                     progress)
                shots += check_review(browser, check, base, waiting, args.out)
            except TimeoutError as exc:
                check(False, "the page showed what was expected", str(exc))
                print(f"     page as it was: {browser.screenshot(work / 'timeout.png')}")
                args.keep = True
        for path in shots:
            small_png(path)
            print(f"     screenshot {path.relative_to(ROOT)} ({path.stat().st_size // 1024} kB)")
    finally:
        if serve is not None and serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)  # serve stops everything on SIGTERM as on Ctrl-C
            try:
                serve.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"data kept in {work}")
    print(f"{'all checks passed' if not check.failed else f'{check.failed} check(s) failed'} "
          f"in {time.monotonic() - t0:.0f} s")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
