"""``content-factory watermark`` and ``content-factory verify``: mark a clip, read the marks back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from flows.commands import input_file, output_file, positive


def register(app: typer.Typer) -> None:
    @app.command("watermark")
    def watermark(
        src: Annotated[Path, typer.Argument(help="Clip to mark (MP4).",
                                            callback=input_file("a video clip"))],
        dst: Annotated[Path, typer.Argument(help="Marked clip to write (MP4).",
                                            callback=output_file("an MP4 file to write"))],
        payload: Annotated[str | None, typer.Option(
            "--payload", help="Watermark payload: 12 hex digits (48 bits).")] = None,
        content_id: Annotated[str | None, typer.Option(
            "--content-id",
            help="Derive the payload from this content id and also write the AI-content metadata "
                 "label.")] = None,
        logo: Annotated[Path | None, typer.Option(
            "--logo", help="Brand logo, a PNG with alpha.",
            callback=input_file("a PNG logo"))] = None,
        logo_corner: Annotated[str, typer.Option(
            "--logo-corner", help="top-left, top-right, bottom-left or bottom-right.")] = "top-right",
        label_locale: Annotated[str, typer.Option(
            "--label-locale",
            help="Locale of the visible AI label (zh, en, ja, ar, ...); 'none' leaves it out.")] = "en",
        label_corner: Annotated[str, typer.Option(
            "--label-corner", help="Corner of the AI label.")] = "top-left",
        label_seconds: Annotated[float, typer.Option(
            "--label-seconds", help="Label shows from the start for this long (at least 2).",
            callback=positive)] = 3.0,
        fonts_dir: Annotated[Path | None, typer.Option(
            "--fonts-dir",
            help="Font folder (default: FACTORY_FONTS_DIR or the project's .fonts-cache).")] = None,
        producer: Annotated[str | None, typer.Option(
            "--producer",
            help="Provider named in the metadata and C2PA (default: FACTORY_PRODUCER).")] = None,
        model: Annotated[str, typer.Option(
            "--model", help="Generating model named in the metadata label.")] = "unknown",
        sign: Annotated[bool, typer.Option(
            "--sign", help="Sign a C2PA manifest last, with FACTORY_C2PA_CERT / FACTORY_C2PA_KEY "
                           "or else this factory's local signing identity.")] = False,
        dev_cert: Annotated[bool, typer.Option(
            "--dev-cert",
            help="Sign with a throwaway DEVELOPMENT certificate (never for publishing).")] = False,
    ) -> None:
        """Mark SRC with the logo, the AI label and the invisible watermark; write DST.

        With --content-id the AI-content metadata is written too; with --sign or --dev-cert a
        C2PA manifest is signed as the very last step. Prints a JSON report.
        """
        from common.errors import ConfigError
        from flows.settings import get_settings
        from flows.signing import c2pa_signer
        from tasks.watermark import (
            AiContentLabel,
            LabelPlacement,
            LogoPlacement,
            apply_marks,
            make_dev_certificate,
            parse_payload,
            payload_from_content_id,
            sign_c2pa,
            write_ai_metadata,
        )

        if (payload is None) == (content_id is None):
            raise ConfigError("give exactly one of --payload HEX or --content-id ID")
        if (sign or dev_cert) and content_id is None:
            raise ConfigError("C2PA signing names the clip's content id: give --content-id")
        settings = get_settings()
        producer = producer or settings.producer
        fonts = fonts_dir or settings.fonts_dir or _default_fonts_dir()
        bits = parse_payload(payload) if payload is not None else payload_from_content_id(content_id)
        locale = None if label_locale.lower() == "none" else label_locale

        stages = [dst.with_name(f".{dst.stem}.{n}.mp4") for n in ("marked", "labelled")]
        marked = stages[0] if (content_id or sign or dev_cert) else dst
        report = apply_marks(src, marked, payload=bits, logo=logo,
                             logo_placement=LogoPlacement(corner=logo_corner),
                             label_locale=locale,
                             label_placement=LabelPlacement(corner=label_corner,
                                                            seconds=label_seconds),
                             fonts_dir=fonts)
        result = report.to_dict()
        try:
            if content_id is not None:
                label = AiContentLabel(content_id, producer, model, datetime.now(UTC))
                labelled = stages[1] if (sign or dev_cert) else dst
                write_ai_metadata(marked, labelled, label)
                result["metadata"] = label.to_dict()
                if sign or dev_cert:
                    if dev_cert:
                        chain, key = make_dev_certificate(settings.data_dir.resolve() / "dev-c2pa")
                    else:
                        chain, key = c2pa_signer(settings)
                    sign_c2pa(labelled, dst, cert_chain=chain, private_key=key,
                              producer=producer, content_id=content_id)
                    result["c2pa"] = {"signed_with": str(chain), "development": dev_cert}
        finally:
            for stage in stages:
                stage.unlink(missing_ok=True)
        result["path"] = str(dst)
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))

    @app.command("verify")
    def verify(
        file: Annotated[Path, typer.Argument(help="Clip to check (MP4).",
                                             callback=input_file("a video clip"))],
        records: Annotated[bool, typer.Option(
            "--records/--no-records", help="Look the clip up in the run records.")] = True,
        max_frames: Annotated[int | None, typer.Option(
            "--max-frames", min=1, help="Read the watermark from the first N frames only.")] = None,
    ) -> None:
        """Print, as JSON, the watermark payload and its bit confidence, the metadata label, the
        C2PA validation state with who signed and whether that signer is trusted (this factory's
        own identity or FACTORY_C2PA_TRUST_ANCHORS), and the matching clip in the run records."""
        from flows.settings import get_settings
        from flows.signing import c2pa_trust
        from tasks.watermark import verify_clip

        result = verify_clip(file, max_frames=max_frames, trust=c2pa_trust(get_settings()))
        result["clip"] = _find_clip(result) if records else None
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))


def _default_fonts_dir() -> Path | None:
    folder = Path(__file__).resolve().parents[2] / ".fonts-cache"
    return folder if folder.is_dir() else None


def _find_clip(result: dict) -> dict | None:
    """The run-records clip for a verified file: by the metadata's content id when it agrees
    with the pixels, else by the pixel payload (the first 48 bits of the content id)."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url

    from flows.settings import get_settings
    from storage.db import open_database
    from storage.models import Clip
    from storage.records import clip_summary, find_clip_by_content_id

    url = get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).is_file():
        return None  # no run records here yet; do not create an empty database to say so
    metadata, payload = result.get("metadata"), result.get("payload")
    content_id = metadata["content_id"] if metadata and result.get("metadata_matches_payload") \
        is not False else None
    with open_database(url).session() as s:
        if content_id:
            found = find_clip_by_content_id(s, content_id)
            if found is not None:
                return found
        if payload:
            clips = list(s.scalars(select(Clip).where(Clip.content_id.startswith(payload))
                                   .limit(2)))
            if clips:
                summary = clip_summary(clips[0])
                summary["matched_by"] = "watermark payload"
                summary["ambiguous"] = len(clips) > 1
                return summary
    return None
