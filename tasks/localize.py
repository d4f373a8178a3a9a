"""Localizing: one locale's clip from the master (subtitles, labels, watermark, provenance).

    master (lossless) -> burn subtitles (libass, while decoding) + logo + AI label + invisible
      watermark (one H.264 encode) -> the locale's soundtrack (tasks.audio, stream copy)
      -> soft subtitle track + AI-content metadata (stream copy) -> C2PA signature (last)

Nothing here renders: N locales cost N passes of this stage and zero model calls, and each
clip is encoded once (the only lossy encode between a render and a delivered clip). A clip's
bytes are a function of the run's inputs: the metadata's time is the run's (``created_at``),
never the clock, and the signature of a given input is made once and kept (``signatures``), so
a rerun produces the same file and publishes nothing new.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from media.video import probe
from storage.objects import ObjectStore
from tasks.assemble import ShotTiming
from tasks.audio.narrate import Soundtrack
from tasks.endcard import EndCardText
from tasks.layout import FrameLayout, frame_layout
from tasks.script import Shot


@dataclass(frozen=True)
class Branding:
    """What a clip shows of its brand and provider (explicit; no global settings)."""

    name: str
    primary: str
    secondary: str
    text: str
    logo: Path | None = None
    producer: str = "content-factory"
    model: str = "animatic"
    fonts_dir: Path | None = None
    c2pa_cert: Path | None = None
    c2pa_key: Path | None = None


@dataclass(frozen=True)
class ClipFiles:
    locale: str
    content_id: str
    video: Path
    sidecars: dict[str, Path] = field(default_factory=dict)  # srt, vtt, ass
    payload_hex: str = ""
    signed: bool = False
    audio: dict = field(default_factory=dict)  # voice, music, loudness (empty: silent clip)
    format: str | None = None  # "9:16" ...; None: a spec without output.formats
    variant: str = ""  # the campaign variant it is (tasks/variants.py); "" for a plain run

    def publishable(self) -> dict[str, Path]:
        """The files a clip publishes: the MP4 plus SRT and WebVTT sidecars."""
        return {"video": self.video, **{k: v for k, v in self.sidecars.items()
                                        if k in ("srt", "vtt")}}


def content_id_for(run_id: str, locale: str, format: str | None = None) -> str:
    """A clip's content id: stable for a run, locale and format, so a rerun labels it the
    same (a spec without formats keeps the id it had before formats existed)."""
    delivery = f"{locale}:{format}" if format else locale
    return hashlib.sha256(f"content-factory:{run_id}:{delivery}".encode()).hexdigest()


def localize_clip(master: Path, shots: list[Shot], timings: list[ShotTiming], *, locale: str,
                run_id: str, branding: Branding, work_dir: Path, created_at: datetime,
                signatures: ObjectStore | None = None, sound: Soundtrack | None = None,
                layout: FrameLayout | None = None, end_card: EndCardText | None = None,
                variant: str = "", cta: str | None = None) -> ClipFiles:
    """Produce the deliverable MP4 (and sidecars) for ``locale`` from the master render.

    ``created_at`` is the run's creation time (the metadata label's); ``signatures`` keeps each
    signed result so that signing the same input again gives the same bytes; ``sound``
    (tasks.audio) becomes the clip's one audio stream, and its sentence timings time the
    captions of spoken shots. ``layout`` is the delivery format (None: the master's size, laid
    out by the nearest format's safe zone); the label, logo, captions and ``end_card`` are
    placed inside its safe zone. ``cta``, the locale's call to action, is the last caption,
    over the clip's last seconds, unless the end card shows it; ``variant`` (the campaign
    variant's id) goes into the metadata."""
    from media.fonts import default_fonts_dir
    from tasks.audio.mix import mux_soundtrack
    from tasks.endcard import draw_end_card
    from tasks.layout import caption_layout
    from tasks.subtitles import (
        ShotCaptions,
        SubtitleStyle,
        build_cues,
        mux_soft_subtitles,
        with_call_to_action,
        write_sidecars,
    )
    from tasks.watermark import (
        AiContentLabel,
        apply_marks,
        payload_from_content_id,
        sign_c2pa_once,
        write_ai_metadata,
    )

    work_dir.mkdir(parents=True, exist_ok=True)
    fonts_dir = branding.fonts_dir or default_fonts_dir()
    info = probe(master)
    layout = layout or frame_layout(None, info.size)
    content_id = content_id_for(run_id, locale, layout.format)
    name = f"{locale}.{layout.slug}" if layout.format else locale
    by_id = {shot.id: shot for shot in shots}
    captioned = [ShotCaptions(shot_id=t.shot_id, start=t.start, end=t.end,
                              lines=by_id[t.shot_id].captions.get(locale, []),
                              spoken=sound.spans.get(t.shot_id) if sound else None)
                 for t in timings if by_id[t.shot_id].captions]
    stem = work_dir / f"clip.{name}"
    sidecars: dict[str, Path] = {}
    cta = None if end_card is not None and end_card.cta else cta  # the card says it
    texts = [t for c in captioned for t in c.lines] + ([cta] if cta else [])
    fit = caption_layout(locale, texts, layout, fonts_dir=fonts_dir) if texts else None
    cues = build_cues(captioned, locale=locale, rules=fit.rules) if captioned else []
    if cta:
        cues = with_call_to_action(cues, cta, end=timings[-1].end if timings else info.duration,
                                   locale=locale, rules=fit.rules)
    if cues:
        style = SubtitleStyle.in_safe_zone(primary=branding.primary, text=branding.text,
                                           frame_size=info.size, safe_box=layout.safe_box,
                                           font_px=fit.font_px)
        sidecars = write_sidecars(cues, locale=locale, out_stem=stem, style=style,
                                  frame_size=info.size)
    payload = payload_from_content_id(content_id)
    marked = work_dir / f"marked.{name}.mp4"
    card = None
    if end_card is not None:
        card = draw_end_card(info.size, layout.safe_box, end_card, locale=locale,
                             colors=(branding.primary, branding.secondary, branding.text),
                             logo=branding.logo, fonts_dir=fonts_dir)
    # Captions are burned in while the marks pass decodes the master: one encode for both.
    apply_marks(master, marked, payload=payload, logo=branding.logo, label_locale=locale,
                fonts_dir=fonts_dir, subtitles=sidecars.get("ass"), safe_box=layout.safe_box,
                tail=card, tail_seconds=end_card.seconds if end_card else 0.0)
    if sound is not None:  # the voice-over and music, muxed under the finished picture
        mux_soundtrack(marked, sound.path, marked, locale=locale)
    labelled = work_dir / f"labelled.{name}.mp4"
    with_tracks = work_dir / f"tracks.{name}.mp4"
    if "srt" in sidecars:
        mux_soft_subtitles(marked, with_tracks, {locale: sidecars["srt"]})
    else:
        shutil.copyfile(marked, with_tracks)
    write_ai_metadata(with_tracks, labelled, AiContentLabel(
        content_id=content_id, producer=branding.producer, model=branding.model,
        created_at=created_at, voice=sound.voice if sound else "",
        voice_synthetic=bool(sound and sound.synthetic), variant=variant))
    final = work_dir / f"{run_id}.{name}.mp4"
    signed = False
    if branding.c2pa_cert and branding.c2pa_key:
        # Provenance is signed last: any rewrite after this would break the signature.
        sign_c2pa_once(labelled, final, cert_chain=branding.c2pa_cert,
                       private_key=branding.c2pa_key, producer=branding.producer,
                       content_id=content_id, memo=signatures)
        signed = True
    else:
        shutil.copyfile(labelled, final)
    for tmp in (marked, with_tracks, labelled):
        tmp.unlink(missing_ok=True)
    return ClipFiles(locale=locale, content_id=content_id, video=final, sidecars=sidecars,
                     payload_hex=payload.hex(), signed=signed,
                     audio=sound.details() if sound else {}, format=layout.format,
                     variant=variant)


@task(name="localize-clip", cache_policy=NO_CACHE)
def localize_clip_task(master: Path, shots: list[Shot], timings: list[ShotTiming], *,
                       locale: str, run_id: str, branding: Branding, work_dir: Path,
                       created_at: datetime, signatures: ObjectStore | None = None,
                       sound: Soundtrack | None = None, layout: FrameLayout | None = None,
                       end_card: EndCardText | None = None, variant: str = "",
                       cta: str | None = None) -> ClipFiles:
    return localize_clip(master, shots, timings, locale=locale, run_id=run_id,
                         branding=branding, work_dir=work_dir, created_at=created_at,
                         signatures=signatures, sound=sound, layout=layout, end_card=end_card,
                         variant=variant, cta=cta)
