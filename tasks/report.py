"""What a run shows to the people watching it: Prefect artifacts and in-process progress events.

    RenderProgress(shot, key)          a render's ``on_progress``: a Prefect progress artifact
                                       updated at every step (every frame for the animatic), and
                                       a :class:`ProgressEvent` for listeners (the CLI's bars)
    listening(fn) / emit(event)        in-process progress listeners (stage, shot, step)
    sheet_markdown(path, title, ...)   a clip's contact sheet as markdown with the JPEG embedded
    render_sheet_artifact(...)         the contact sheet of one render
    clip_artifacts(run_id, clips, ...) one contact sheet per finished clip (subtitles and label
                                       are burned in, so they show)
    run_table_artifact(manifest, ...)  locale, duration, size, SHA-256, decision, links
    stabilize_artifact(reports, ...)   the steadiness before and after, as a plot and a table
    moderation_artifact(rows, ...)     every moderation decision with reasons and scores

Images are embedded as ``data:`` URIs (small JPEGs, PNG for plots): the UI of
``content-factory serve`` shows them with no internet and no extra server. Artifacts are for
people: one that cannot be written (no API, a full disk) logs a warning and never fails a run.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from media.contact import (
    contact_sheet,
    data_uri,
    encode_image,
    frames_at,
    line_plot,
    sample_times,
)
from media.video import probe

log = logging.getLogger(__name__)

SHEET_FRAMES = 6         # frames per contact sheet, at fixed times across the clip
SHEET_WIDTH = 240        # pixels per frame: a 3x2 sheet is ~750 px wide, ~40-70 kB as JPEG
PROGRESS_INTERVAL_S = 0.1  # the animatic draws hundreds of frames a second: at most 10 updates
                           # a second reach the API (the last one always does)


# Progress events -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgressEvent:
    """Something a person watching the run wants to see move.

    ``kind`` is ``stage`` (a pipeline stage began: ``stage``), ``step`` (a render advanced:
    ``shot``, ``done`` of ``total``) or ``done`` (a render finished or came from the cache).
    """

    kind: str
    stage: str = ""
    shot: str = ""
    done: int = 0
    total: int = 0
    note: str = ""


_listeners: list[Callable[[ProgressEvent], None]] = []
_listeners_lock = threading.Lock()


@contextmanager
def listening(listener: Callable[[ProgressEvent], None]) -> Iterator[None]:
    """Call ``listener`` with every :class:`ProgressEvent` of this process while inside."""
    with _listeners_lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _listeners_lock:
            _listeners.remove(listener)


def emit(event: ProgressEvent) -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # a display must never stop a render
            log.exception("progress listener failed on %s", event)


def _in_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _artifact(what: str, make: Callable[[], object]) -> object | None:
    """Create one artifact; outside a flow run, or when the API refuses, nothing (logged)."""
    if not _in_run():
        return None
    try:
        return make()
    except Exception as exc:
        log.warning("could not write the %s artifact: %s: %s", what, type(exc).__name__, exc)
        return None


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from ``parts``: lowercase letters, digits and dashes only."""
    text = "-".join(p for p in parts if p).lower()
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text)).strip("-")[:120]


class RenderProgress:
    """``on_progress`` for one render: a progress artifact on the run page and step events.

    The artifact is created at 0 % when the render starts and updated at every step (at most
    every :data:`PROGRESS_INTERVAL_S`, the last step always); :meth:`finish` sets 100 %.
    """

    def __init__(self, shot: str, key: str, *, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self.shot, self.key, self.interval_s = shot, key, interval_s
        self.artifact_id = None
        self._last = 0.0
        self.updates = 0  # progress values sent to the API (for tests and the log)

    def start(self) -> RenderProgress:
        from prefect.artifacts import create_progress_artifact

        self.artifact_id = _artifact("progress", lambda: create_progress_artifact(
            0.0, description=self._description("rendering")))
        return self

    def _description(self, what: str) -> str:
        return f"Render of shot `{self.shot}` ({what}); render key `{self.key[:12]}`"

    def __call__(self, done: int, total: int) -> None:
        emit(ProgressEvent("step", stage="render", shot=self.shot, done=done, total=total))
        now = time.monotonic()
        if self.artifact_id is None or (done < total and now - self._last < self.interval_s):
            return
        self._last = now
        self._update(100.0 * done / max(total, 1), f"step {done} of {total}")

    def _update(self, percent: float, what: str) -> None:
        from prefect.artifacts import update_progress_artifact

        if self.artifact_id is None:
            return
        if _artifact("progress", lambda: update_progress_artifact(
                self.artifact_id, percent, description=self._description(what))) is not None:
            self.updates += 1

    def finish(self, note: str) -> None:
        """100 %: the render is done, or came from the cache (``note`` says which)."""
        self._update(100.0, note)
        emit(ProgressEvent("done", stage="render", shot=self.shot, done=1, total=1, note=note))


# Contact sheets ---------------------------------------------------------------------------------

def sheet_image(path: Path, title: str, *, count: int = SHEET_FRAMES, width: int = SHEET_WIDTH
                ) -> bytes:
    """The contact sheet of the clip at ``path``: ``count`` frames at fixed times, each labelled
    with its time, as JPEG bytes."""
    info = probe(path)
    times = sample_times(info.duration, count)
    frames = frames_at(path, times, width)
    sheet = contact_sheet(frames, [f"{t:.1f} s" for t in times], columns=3, title=title)
    return encode_image(sheet, "jpeg", quality=78)


def sheet_markdown(path: Path, title: str, **kw) -> str:
    """Markdown showing the contact sheet of ``path`` (embedded, no link to follow)."""
    return f"![contact sheet: {title}]({data_uri(sheet_image(path, title, **kw), 'jpeg')})"


def render_sheet_artifact(path: Path, shot: str, key: str, *, hit: bool) -> None:
    """The contact sheet of one render, on the run page."""
    from prefect.artifacts import create_markdown_artifact

    def make():
        title = f"render of shot {shot}"
        body = (f"### Render of shot `{shot}`\n\n{sheet_markdown(path, title)}\n\n"
                f"Render key `{key}`; {'from the template cache' if hit else 'rendered now'}.")
        return create_markdown_artifact(body, description=f"contact sheet: render of {shot}")

    _artifact("render contact sheet", make)


def clip_artifacts(run_id: str, campaign_id: str, clips: Sequence[tuple[str, Path]]) -> None:
    """One contact sheet per finished clip (``(locale, path)``), with its burned subtitles and
    label, under the key ``<campaign>-clip-<locale>`` (the Artifacts page keeps every version)."""
    from prefect.artifacts import create_markdown_artifact

    for locale, path in clips:
        def make(locale=locale, path=path):
            info = probe(path)
            title = f"{locale}: {info.width}x{info.height}, {info.duration:.1f} s"
            body = (f"### Clip `{locale}` of run `{run_id}`\n\n{sheet_markdown(path, title)}\n\n"
                    f"{info.width}x{info.height}, {float(info.fps):g} fps, {info.frames} frames, "
                    f"{info.duration:.2f} s.")
            return create_markdown_artifact(body, key=artifact_key(campaign_id, "clip", locale),
                                            description=f"contact sheet: clip {locale} of "
                                                        f"{run_id}")

        _artifact(f"clip {locale} contact sheet", make)


# Tables -----------------------------------------------------------------------------------------

def _link(url: str | None, text: str) -> str:
    return f"[{text}]({url})" if url else text


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def clip_rows(manifest: dict, decisions: dict[str, str]) -> list[dict]:
    """One row per clip of ``manifest``: what the run table shows (``decisions``: content id ->
    moderation decision)."""
    rows = []
    for clip in manifest.get("clips", []):
        rows.append({
            "locale": clip["locale"], "duration_s": clip.get("duration"),
            "size_bytes": clip.get("size"),
            "decision": decisions.get(clip.get("content_id", ""), "unknown"),
            "sha256": clip.get("sha256"),
            "clip": clip.get("url"),
            **{kind: side.get("url") for kind, side in sorted(clip.get("sidecars", {}).items())},
        })
    return rows


def run_table_artifact(manifest: dict, decisions: dict[str, str]) -> None:
    """The run's clips as a Prefect table (keyed per campaign) and as markdown with links."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    rows = clip_rows(manifest, decisions)
    run_id, campaign_id = manifest.get("run_id", ""), manifest.get("campaign_id", "")
    _artifact("clip table", lambda: create_table_artifact(
        rows, key=artifact_key(campaign_id, "clips"),
        description=f"Clips of run {run_id}: locale, duration, size, SHA-256, moderation "
                    "decision and where each file went"))
    sidecar_kinds = sorted({k for row in rows for k in row} - {
        "locale", "duration_s", "size_bytes", "sha256", "decision", "clip"})
    lines = [f"### Clips of run `{run_id}`", "",
             "| locale | duration | size | SHA-256 | decision | files |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        files = " · ".join([_link(row["clip"], "clip")]
                           + [_link(row.get(k), k) for k in sidecar_kinds if row.get(k)])
        size = row["size_bytes"] or 0
        lines.append(f"| {row['locale']} | {row['duration_s']:.2f} s | {size / 1e6:.2f} MB | "
                     f"`{(row['sha256'] or '')[:16]}…` | {row['decision']} | {files} |")
    if manifest.get("manifest_key"):
        lines += ["", f"Manifest: `{manifest['manifest_key']}`"]
    _artifact("clip summary", lambda: create_markdown_artifact(
        "\n".join(lines), description=f"clips of run {run_id} with links"))


STABILIZE_METRICS = ("jitter", "stability", "flicker", "itf")


def stabilize_rows(reports: dict[str, dict], shots: dict[str, str]) -> list[dict]:
    """Per render (named by its shot from ``shots``: render key -> shot id): each steadiness
    figure before and after stabilizing."""
    rows = []
    for key, report in reports.items():
        before, after = report.get("before") or {}, report.get("after") or {}
        row = {"shot": shots.get(key, key[:8])}
        for name in STABILIZE_METRICS:
            row[f"{name}_before"] = before.get(name)
            row[f"{name}_after"] = after.get(name)
        rows.append(row)
    return rows


def stabilize_plot(rows: list[dict]) -> bytes:
    """Jitter per shot, before and after: a small PNG."""
    image = line_plot({"before": [r["jitter_before"] or 0.0 for r in rows],
                       "after": [r["jitter_after"] or 0.0 for r in rows]},
                      [r["shot"] for r in rows], title="jitter per shot (px, lower is steadier)",
                      unit="px")
    return encode_image(image, "png")


def stabilize_artifact(run_id: str, reports: dict[str, dict], shots: dict[str, str]) -> None:
    """The stabilization figures of the run's renders before and after, as a plot and table."""
    from prefect.artifacts import create_markdown_artifact

    rows = stabilize_rows(reports, shots)
    if not rows:
        return

    def make():
        lines = [f"### Stabilization of run `{run_id}`", "",
                 f"![jitter before and after]({data_uri(stabilize_plot(rows), 'png')})", "",
                 "| shot | " + " | ".join(f"{m} before | {m} after" for m in STABILIZE_METRICS)
                 + " |", "|---" * (1 + 2 * len(STABILIZE_METRICS)) + "|"]
        for r in rows:
            lines.append(f"| {r['shot']} | " + " | ".join(
                f"{_num(r[f'{m}_before'])} | {_num(r[f'{m}_after'])}" for m in STABILIZE_METRICS)
                + " |")
        return create_markdown_artifact("\n".join(lines),
                                        description=f"stabilization of run {run_id}")

    _artifact("stabilization", make)


def _num(value) -> str:
    return "" if value is None else f"{value:.3g}"


def moderation_markdown(run_id: str, rows: Sequence) -> str:
    """Every decision of the run (audit rows: kind, subject, decision, reasons, scores,
    detector and version, reviewer) as a markdown table."""
    lines = [f"### Moderation of run `{run_id}`", "",
             "| what | subject | decision | reasons | scores | detector | reviewer |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        scores = ", ".join(f"{k} {v:.2f}" for k, v in sorted((r.scores or {}).items(),
                                                             key=lambda kv: -kv[1])[:6])
        lines.append(f"| {r.subject_kind} | `{r.subject_id[:16]}` | **{r.decision}** | "
                     f"{_cell('; '.join(r.reasons or []) or '-')} | {_cell(scores or '-')} | "
                     f"{_cell(f'{r.detector} {r.detector_version}'.strip() or '-')} | "
                     f"{_cell(r.reviewer or '-')} |")
    return "\n".join(lines)


def moderation_artifact(run_id: str, rows: Sequence) -> None:
    from prefect.artifacts import create_markdown_artifact

    _artifact("moderation", lambda: create_markdown_artifact(
        moderation_markdown(run_id, rows), description=f"moderation decisions of run {run_id}"))


def name_flow_run(name: str) -> None:
    """Rename the current flow run (the run id is known only once the run is planned)."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return

    def rename():
        with get_client(sync_client=True) as client:
            client.update_flow_run(context.flow_run.id, name=name)
        return True

    _artifact("flow run name", rename)


def run_name(campaign_id: str, run_id: str) -> str:
    """A flow run's name: the run id, which begins with the campaign's id unless one was given
    by hand (then both)."""
    return run_id if run_id.startswith(campaign_id) else f"{campaign_id}-{run_id}"


def run_artifacts(db, manifest: dict) -> None:
    """The finished run's clip table and moderation decisions, read from the database."""
    from storage.models import ModerationDecision
    from storage.records import latest_decision

    run_id = manifest.get("run_id", "")
    with db.session() as s:
        decisions = {}
        for clip in manifest.get("clips", []):
            row = latest_decision(s, "clip", clip.get("content_id", ""))
            decisions[clip.get("content_id", "")] = row.decision if row else "none"
        rows = s.query(ModerationDecision).filter_by(run_id=run_id) \
            .order_by(ModerationDecision.id).all()
        s.expunge_all()
    run_table_artifact(manifest, decisions)
    moderation_artifact(run_id, rows)


# What a reviewer sees ---------------------------------------------------------------------------

_FRAME_REASON = re.compile(r"^([A-Z][A-Z_]+) ([\d.]+) >= (review|block) ([\d.]+)(.*)$")


def plain_reason(reason: str) -> str:
    """A detector's reason in plain words: ``FEMALE_BREAST_EXPOSED 0.40 >= review 0.30`` reads
    "female breast exposed: score 0.40, at or above the review threshold 0.30". Reasons that
    are sentences already (the term lists') are kept."""
    m = _FRAME_REASON.match(reason)
    if not m:
        return reason
    label, score, level, limit, rest = m.groups()
    rest = rest.strip()
    return (f"{label.replace('_', ' ').lower()}: score {score}, at or above the {level} "
            f"threshold {limit}{f' ({rest})' if rest else ''}")


def _review_header(decision) -> list[str]:
    reasons = [f"- {plain_reason(r)}" for r in decision.reasons] or ["- (no reason given)"]
    return ["**Why a person must look**", "", *reasons, "",
            f"Detector: **{decision.detector or 'unknown'}**, version "
            f"`{decision.detector_version or 'unknown'}`."]


def review_text_markdown(campaign, decision) -> str:
    """The text review: reasons, detector, and each shot's caption text per locale."""
    lines = _review_header(decision) + ["", "**Captions per locale**", "",
                                        "| shot | locale | caption |", "|---|---|---|"]
    for shot in campaign.shots:
        for locale, captions in shot.captions.items():
            lines.append(f"| {shot.id} | {locale} | {_cell(' / '.join(captions))} |")
    lines += ["", "**Prompts**", ""] + [f"- `{s.id}`: {_cell(s.prompt)}" for s in campaign.shots]
    return "\n".join(lines)


def review_frames_markdown(path: Path, decision, *, width: int = SHEET_WIDTH,
                           most: int = SHEET_FRAMES) -> str:
    """The frames review: reasons, detector, and the flagged frames of the clip at ``path``
    (the sampled ones across the clip when the detector flagged none, e.g. when it failed)."""
    info = probe(path)
    fps = float(info.fps)
    indices = list(decision.frames)[:most]
    if indices:
        times = [(i + 0.5) / fps for i in indices]
        title = f"flagged frames ({len(decision.frames)} in all)"
    else:
        times = sample_times(info.duration, most)
        title = "frames across the clip (no single frame was flagged)"
    frames = frames_at(path, times, width)
    sheet = contact_sheet(frames, [f"frame {int(t * fps)} ({t:.1f} s)" for t in times],
                          columns=3, title=title)
    image = data_uri(encode_image(sheet, "jpeg", quality=78), "jpeg")
    return "\n".join(_review_header(decision) + ["", f"![{title}]({image})"])
