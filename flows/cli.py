"""`content-factory`: the command line.

Core commands live here (run, validate, product, localize, runs, doctor); each stage adds its
own from a module in ``flows/commands`` that has ``register(app)``. A FactoryError, or a wrong
option, prints as one unwrapped line naming what is wrong; exit codes are one convention for
every command (``flows/commands/__init__.py``: 0 success, 1 error, 3 review, 4 block).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from common.errors import FactoryError, RunStopped, one_line
from flows.commands import EXIT_BLOCK, EXIT_ERROR, input_file

app = typer.Typer(help="content-factory: campaign scripts and product records in, safe, "
                       "labelled, subtitled videos out.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console(stderr=True)
out = Console()


def _quiet_prefect() -> None:
    """Before Prefect is imported: quiet, and pointed at this machine's server (flows/connect.py):
    PREFECT_API_URL, else a running `serve` (the run shows in its UI), else a temporary server
    this command starts and announces (so `review` from another terminal can reach it)."""
    from flows.connect import read_announcement, use_local_prefect
    from flows.settings import get_settings

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    data_dir = get_settings().data_dir
    api = use_local_prefect(data_dir)
    if api is None:
        from flows.connect import start_announced_temporary_server

        with console.status("starting a temporary Prefect server (`content-factory serve` "
                            "keeps one running)"):
            start_announced_temporary_server(data_dir)
        return
    serving = read_announcement(data_dir)
    ui = serving.ui_url if serving and serving.api_url == api and serving.ui_url else api
    typer.echo(f"Prefect: {api} (runs show in the UI at {ui})", err=True)


SPEC_FILE = input_file("a campaign spec file (YAML or JSON)")


def _check_layout(campaign) -> None:
    """The overlays of every locale and format fit their safe zones (SpecError otherwise): the
    same layout the localize stage makes, so a run of a valid spec never fails on it."""
    from flows.settings import get_settings
    from media.fonts import default_fonts_dir
    from tasks.layout import check_layout

    check_layout(campaign, fonts_dir=get_settings().fonts_dir or default_fonts_dir(),
                 logo=campaign.spec.brand.logo)


@app.command()
def validate(spec: Annotated[Path, typer.Argument(help="Campaign spec (YAML or JSON).",
                                                  callback=SPEC_FILE)]) -> None:
    """Check a campaign spec and its script, and that every locale's AI label, captions and
    end card fit every format's safe zone; print its shots, or every problem, one a line.
    Exits 1 on any problem."""
    from common.errors import SpecError
    from tasks.script import load_campaign

    try:
        campaign = load_campaign(spec)
        _check_layout(campaign)
    except SpecError as exc:
        problems = getattr(exc, "problems", [exc])
        for problem in problems:
            _fail(str(problem), EXIT_ERROR)
        if len(problems) > 1:
            typer.echo(f"{len(problems)} problems in {spec}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    formats = campaign.spec.output.formats
    table = Table(title=f"{campaign.id}: {len(campaign.shots)} shots, locales "
                        f"{', '.join(campaign.spec.locales)}"
                        + (f", formats {', '.join(formats)}" if formats else ""))
    for col in ("shot", "seconds", "frames", "seed", "template", "prompt"):
        table.add_column(col)
    for s in campaign.shots:
        table.add_row(s.id, f"{s.duration:.2f}", str(s.frames), str(s.seed), s.template or "",
                      s.prompt[:60])
    out.print(table)
    if campaign.spec.variants is not None:
        _print_variants(campaign)
    out.print("[green]valid[/green]")


def _print_variants(campaign) -> None:
    """The variant table and its render cost: what a run will make, before anything runs."""
    from tasks.plan import variant_plan

    plan = variant_plan(campaign)
    axes = [axis for axis, _ in campaign.spec.variants.axes()]
    table = Table(title=f"variants: {plan.summary()}")
    for col in ("variant", *axes, "new renders"):
        table.add_column(col)
    for row in plan.rows:
        table.add_row(row.variant.id, *(row.variant.values[a] for a in axes),
                      str(row.new_renders))
    out.print(table)
    out.print(f"renders needed: {plan.renders}, clips produced: {plan.clips}")


@app.command()
def run(spec: Annotated[Path, typer.Argument(help="Campaign spec (YAML or JSON).",
                                             callback=SPEC_FILE)],
        run_id: Annotated[str | None, typer.Option(help="Rerun/resume this run id.")] = None,
        backend: Annotated[str | None, typer.Option(help="auto, animatic, model or svd.")] = None,
        silent: Annotated[bool, typer.Option(
            "--silent", help="No voice-over and no music (as `audio: none`).")] = False,
        variant: Annotated[list[str] | None, typer.Option(
            help="Make only this variant (repeatable); default: every variant of the spec.")
        ] = None,
        ) -> None:
    """Render, localize and publish a campaign; print where the clips went."""
    from tasks.script import load_campaign
    from tasks.variants import pick_variants

    loaded = load_campaign(spec)
    _check_layout(loaded)  # fail fast, before Prefect starts, on an invalid spec
    pick_variants(loaded, variant)
    run_id = _known_run(run_id, must_exist=False) if run_id else None
    _quiet_prefect()
    from flows.campaign import campaign
    from flows.display import RunDisplay

    with RunDisplay(f"campaign {spec}"):
        manifest = campaign(spec_path=str(spec), run_id=run_id, backend=backend, silent=silent,
                            variants=variant or None)
    _print_manifest(manifest)


@app.command()
def product(record: Annotated[Path, typer.Argument(
                help="Product record (JSON or YAML).",
                callback=input_file("a product record file (JSON or YAML)"))],
            template: Annotated[Path | None, typer.Option(
                help="Jinja2 script template.",
                callback=input_file("a Jinja2 template file"))] = None,
            run_id: Annotated[str | None, typer.Option()] = None,
            backend: Annotated[str | None, typer.Option()] = None) -> None:
    """Make the e-commerce clip for one product record."""
    from tasks.product import load_product_file
    from tasks.spec import load_structured

    item = load_product_file(record)
    data, _ = load_structured(record)
    run_id = _known_run(run_id, must_exist=False) if run_id else None
    _quiet_prefect()
    from flows.display import RunDisplay
    from flows.product import product_clip

    with RunDisplay(f"product clip for {item.sku}"):
        manifest = product_clip(sku=item.sku, product=data, backend=backend, run_id=run_id,
                                template=str(template) if template else None,
                                image_dir=str(record.parent.resolve()))
    _print_manifest(manifest)


@app.command()
def localize(run_id: Annotated[str, typer.Argument(help="A finished run.")],
             locales: Annotated[list[str], typer.Argument(help="Locales to add, e.g. ja fr.")],
             spec: Annotated[Path | None, typer.Option(help="Updated spec with the new "
                                                             "locales' captions.",
                                                        callback=SPEC_FILE)] = None,
             silent: Annotated[bool, typer.Option(
                 "--silent", help="No voice-over and no music.")] = False,
             ) -> None:
    """Publish more locales of a finished run from its stored master (no rendering)."""
    run_id = _known_run(run_id)  # a typo fails here, in well under a second
    _quiet_prefect()
    from flows.display import RunDisplay
    from flows.localize import localize as localize_flow

    with RunDisplay(f"localizing {run_id} into {', '.join(locales)}"):
        manifest = localize_flow(run_id=run_id, locales=locales,
                                 spec_path=str(spec) if spec else None, silent=silent)
    _print_manifest(manifest)


@app.command()
def runs(limit: Annotated[int, typer.Option(min=1, help="How many recent runs.")] = 20,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
         ) -> None:
    """Recent runs: whole id (any command also takes a unique start of it), state, duration,
    clips and the folder they were published to."""
    from flows.settings import get_settings
    from storage.db import open_database
    from storage.records import recent_runs, run_status

    db = open_database(get_settings().database_url)
    with db.session() as s:
        rows = [run_status(s, r) for r in recent_runs(s, limit)]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    # Plain aligned lines (like `docker ps`), never wrapped: ids and folders are copied from here.
    header = ("RUN", "STATE", "STARTED (UTC)", "DURATION", "CLIPS", "OUTPUT", "ERROR")
    lines = [header] + [(
        r["run_id"], r["state"], (r["started_at"] or "-")[:19].replace("T", " "),
        f"{r['duration_s']:.1f} s" if r["duration_s"] is not None else "-",
        f"{sum(c['url'] is not None for c in r['clips'])}/{len(r['locales'])}",
        (r["output"] or "-").removeprefix("file://"), one_line(r["error"] or "", 100))
        for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        typer.echo("  ".join([*(cell.ljust(w) for cell, w in zip(line, widths)), line[-1]])
                   .rstrip())


@app.command()
def doctor() -> None:
    """Check ffmpeg, fonts, CUDA, model weights, the database and Prefect."""
    from flows.doctor import run_checks

    ok = True
    table = Table(title="content-factory doctor")
    for col in ("check", "status", "detail"):
        table.add_column(col)
    for name, passed, detail in run_checks():
        ok &= passed is not False
        mark = {True: "[green]ok[/green]", False: "[red]FAIL[/red]", None: "[yellow]-[/yellow]"}
        table.add_row(name, mark[passed], detail)
    out.print(table)
    raise typer.Exit(0 if ok else 1)


def _known_run(run_id: str, *, must_exist: bool = True) -> str:
    """The whole id of a recorded run, given its id or a unique prefix of it (StorageError
    otherwise; with ``must_exist`` False an unknown id is a new run's); no Prefect involved."""
    from flows.settings import get_settings
    from storage.db import open_database
    from storage.records import resolve_run_id

    db = open_database(get_settings().database_url)
    with db.session() as s:
        whole = resolve_run_id(s, run_id, must_exist=must_exist)
    if whole != run_id:
        typer.echo(f"run {whole}", err=True)  # which run a start of an id named
    return whole


def _print_manifest(manifest: dict) -> None:
    out.print(f"[bold]run {manifest['run_id']}[/bold] ({manifest.get('kind', '')}): "
              f"{len(manifest['clips'])} clip(s)")
    for clip in manifest["clips"]:
        variant = f"  {clip['variant']}" if clip.get("variant") else ""
        out.print(f"  {clip['locale']:>6}  {clip['duration']:.2f}s{variant}  {clip['url']}",
                  soft_wrap=True)
    if "renders_made" in manifest:
        out.print(f"  variants: {len(manifest['variants'])}, clips: {len(manifest['clips'])}, "
                  f"new renders: {manifest['renders_made']} (planned at most "
                  f"{manifest['renders_planned']})")
    if "manifest_key" in manifest:
        out.print(f"  manifest: {manifest['manifest_key']}", soft_wrap=True)
    if manifest.get("stages"):
        out.print("  stages (s): " + json.dumps(manifest["stages"]), soft_wrap=True)
    if manifest.get("colour", {}).get("cuts"):
        c = manifest["colour"]
        out.print(f"  colour jump at {c['cuts']} cut(s), ΔE mean {c['mean_before']} -> "
                  f"{c['mean_after']}, largest {c['max_before']} -> {c['max_after']}")


def _register_commands() -> None:
    import flows.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"flows.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def run_cli(args: list[str] | None = None) -> int:
    """Run the command line on ``args``; the exit code (module doc). Errors are printed as one
    line, never wrapped, on stderr, whether or not it is a terminal."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="content-factory", standalone_mode=False)
    except typer.Abort:
        return _fail("interrupted", EXIT_ERROR)
    except RunStopped as exc:  # moderation stopped the run: the decision's own code
        return _fail(str(exc), EXIT_BLOCK)
    except FactoryError as exc:
        return _fail(str(exc), EXIT_ERROR)
    except Exception as exc:
        # A wrong option or argument: typer's own (vendored) click raises these; they carry a
        # message and the command they concern. Anything else is a bug and keeps its traceback.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help(), err=True)
            return EXIT_ERROR
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        return _fail(f"{exc.format_message()}{where}", EXIT_ERROR)
    return result if isinstance(result, int) else 0


def _fail(message: str, code: int) -> int:
    # typer.echo, not rich: rich wraps at the console width (80 columns when stderr is not a
    # terminal); echo drops the colour when stderr is not a terminal.
    typer.echo(typer.style(f"error: {one_line(message)}", fg="red"), err=True)
    return code


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(run_cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
