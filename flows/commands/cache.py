"""``content-factory cache ls|stats|pin|unpin|prune``: the template cache of renders."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer

UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
         "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2,
         "gib": 1024**3, "tib": 1024**4}


def parse_size(text: str) -> int:
    """``"20G"``, ``"500MB"``, ``"1.5GiB"``, ``"1048576"`` -> bytes (K/M/G are powers of 1000)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise typer.BadParameter(f"{text!r} is not a size: use e.g. 500MB, 20G or 1.5GiB")
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


def human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def open_cache():
    """The template cache the flows use, from settings."""
    from flows.settings import get_settings
    from storage import open_store
    from storage.cache import TemplateCache
    from storage.db import open_database
    from storage.workers import worker_id

    settings = get_settings()
    store = open_store(settings.cache_url, endpoint_url=settings.s3_endpoint_url,
                       region=settings.s3_region)
    return TemplateCache(open_database(settings.database_url), store,
                         max_bytes=settings.cache_max_bytes,
                         worker_id=worker_id(),
                         local_dir=settings.work_dir / "renders")


def register(app: typer.Typer) -> None:
    cache_app = typer.Typer(help="The template cache of renders: list, pin, prune.",
                            no_args_is_help=True)
    app.add_typer(cache_app, name="cache")

    @cache_app.command("ls")
    def ls(as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    ) -> None:
        """Cached renders, most recently used first."""
        entries = open_cache().entries()
        if as_json:
            for e in entries:
                typer.echo(json.dumps(e, default=str, ensure_ascii=False))
            return
        typer.echo(f"{'key':16}  {'state':7}  {'pin':3}  {'template':12}  {'size':>9}  "
                   f"{'hits':>4}  {'WxHxF':>13}  last used")
        for e in entries:
            used = e["last_used_at"].strftime("%Y-%m-%d %H:%M") if e["last_used_at"] else ""
            typer.echo(f"{e['key'][:16]}  {e['state']:7}  {'yes' if e['pinned'] else '':3}  "
                       f"{(e['template'] or '')[:12]:12}  {human(e['size_bytes']):>9}  "
                       f"{e['hits']:>4}  {e['width']}x{e['height']}x{e['frames']:<5}  {used}")

    @cache_app.command("stats")
    def stats() -> None:
        """Entries, bytes against the limit, pins, hits and model time saved (JSON)."""
        typer.echo(json.dumps(open_cache().stats(), indent=2))

    @cache_app.command("pin")
    def pin(key: Annotated[str, typer.Argument(help="Render key (or its first characters).")],
    ) -> None:
        """Keep a render from eviction (templates: intros, outros, backgrounds)."""
        cache = open_cache()
        full = cache.resolve(key)
        cache.pin(full)
        typer.echo(f"pinned {full}")

    @cache_app.command("unpin")
    def unpin(key: Annotated[str, typer.Argument(help="Render key (or its first characters).")],
    ) -> None:
        """Let a render be evicted again when it is least recently used."""
        cache = open_cache()
        full = cache.resolve(key)
        cache.unpin(full)
        typer.echo(f"unpinned {full}")

    @cache_app.command("prune")
    def prune(max_size: Annotated[str | None, typer.Option(
                  "--max-size",
                  help="Shrink to this size (e.g. 5G); default: the configured cache_max_bytes.")] = None,
    ) -> None:
        """Evict least-recently-used unpinned renders until the cache fits."""
        cache = open_cache()
        evicted = cache.prune(parse_size(max_size) if max_size else None)
        s = cache.stats()
        typer.echo(json.dumps({"evicted": evicted, "bytes": s["bytes"],
                               "max_bytes": parse_size(max_size) if max_size else s["max_bytes"]},
                              indent=2))
