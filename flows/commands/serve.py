"""``content-factory serve``: the whole factory on this machine, until Ctrl-C.

Starts a Prefect server (SQLite under DATA_DIR/prefect, UI on http://127.0.0.1:4200), registers
deployments/prefect.yaml (pools, schedules, triggers, the gpu-render limit), starts a worker for
the ``gpu`` and the ``cpu`` pool, and the catalog webhook endpoint with the jobs API. Ctrl-C
stops them all. While it runs, its API is announced in DATA_DIR/prefect-api.json
(flows/connect.py): the CLI's flow commands on this machine run on it and show in its UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.commands import positive


def register(app: typer.Typer) -> None:
    @app.command("deploy")
    def deploy(
        api_url: Annotated[str | None, typer.Option(
            help="Prefect API; default PREFECT_API_URL.")] = None,
        code_dir: Annotated[Path | None, typer.Option(
            help="Where the workers have this project (default: here).")] = None,
        gpu_slots: Annotated[int | None, typer.Option(
            min=1, help="GPUs across the gpu pool (default: deployments/prefect.yaml).")] = None,
    ) -> None:
        """Register pools, the gpu-render limit, deployments, schedules and triggers on a server."""
        import os

        from deployments.register import PROJECT_ROOT, RegisterOptions
        from deployments.register import register as register_deployments

        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        url = api_url or os.environ.get("PREFECT_API_URL")
        if not url:
            from common.errors import ConfigError
            raise ConfigError("no Prefect API: pass --api-url or set PREFECT_API_URL "
                              "(e.g. http://prefect.internal:4200/api)")
        done = register_deployments(url, RegisterOptions(
            code_dir=(code_dir or PROJECT_ROOT), gpu_slots=gpu_slots))
        for name in sorted(done.deployments):
            typer.echo(f"deployment {name}")
        for pool, limit in done.work_pools.items():
            typer.echo(f"work pool {pool} (concurrency limit {limit})")
        for tag, slots in done.concurrency_limits.items():
            typer.echo(f"task concurrency limit {tag}: {slots}")

    @app.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Address for the UI, API and ingest.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535,
                                          help="Prefect server (UI and API) port.")] = 4200,
        ingest_port: Annotated[int, typer.Option(min=1, max=65535,
                                                 help="Catalog webhook endpoint port.")] = 8787,
        gpus: Annotated[int, typer.Option(min=1, help="Renders at once on this machine.")] = 1,
        cpu_slots: Annotated[int, typer.Option(min=1, help="CPU flow runs at once.")] = 2,
        poll: Annotated[float, typer.Option(callback=positive,
                                            help="Seconds between a worker's polls for work "
                                                 "(Prefect's default is 10).")] = 2.0,
        logs: Annotated[Path | None, typer.Option(help="Write each process's output to "
                                                        "LOGS/<name>.log instead of here.")] = None,
        schedules: Annotated[bool, typer.Option(
            "--schedules", help="Switch on the schedules of deployments/prefect.yaml (off by "
                                "default: the examples would start renders on their own).")
        ] = False,
    ) -> None:
        """Run the factory on one machine: Prefect server + deployments + workers + ingest."""
        import os
        import signal

        from rich.console import Console

        from deployments.local import LocalFactory, LocalOptions
        from flows.connect import announce, withdraw
        from flows.ingest import IngestSettings, load_or_create_secret
        from flows.settings import get_settings

        console = Console(stderr=True)
        settings = get_settings()
        data_dir = settings.data_dir.resolve()
        ingest = IngestSettings()
        secret_file = data_dir / "ingest.secret"
        secret = (ingest.secret.get_secret_value() if ingest.secret
                  else load_or_create_secret(secret_file))
        token_file = data_dir / "api.token"
        if not settings.api_token:
            load_or_create_secret(token_file)  # made now, so it can be read before a call
        options = LocalOptions(prefect_home=data_dir / "prefect", data_dir=data_dir, host=host,
                               prefect_port=port, ingest_port=ingest_port, ingest_secret=secret,
                               gpus=gpus, cpu_slots=cpu_slots, poll_s=poll, log_dir=logs,
                               pause_schedules=not schedules)
        env = dict(os.environ)
        env.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
        factory = LocalFactory(options, env=env)

        # SIGTERM (systemd, docker stop) takes the same way out as Ctrl-C.
        def _terminate(signum, frame):
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, _terminate)

        shown_schedules = "on" if schedules else "off (--schedules switches them on)"
        console.print(f"starting Prefect server on {host}:{port} (data in {options.prefect_home})")
        try:
            factory.start()
            announce(data_dir, factory.api_url, ui_url=f"http://{host}:{port}")
            console.print(f"[green]ready[/green] in {sum(factory.timings.values()):.1f} s\n"
                          f"  UI and API   http://{host}:{port}  (PREFECT_API_URL={factory.api_url})\n"
                          f"  deployments  {', '.join(sorted(factory.registered.deployments))}\n"
                          f"  workers      pool gpu (limit {gpus}), pool cpu (limit {cpu_slots}),"
                          f" polling every {poll:g} s\n"
                          f"  schedules    {shown_schedules}\n"
                          f"  webhooks     POST {factory.ingest_url}{ingest.path}  (secret: "
                          f"{'FACTORY_INGEST_SECRET' if ingest.secret else secret_file})\n"
                          f"  jobs API     {factory.ingest_url}/docs  (bearer token: "
                          f"{'FACTORY_API_TOKEN' if settings.api_token else token_file})\n"
                          "Ctrl-C stops everything.")
            child = factory.wait()
            console.print(f"[red]{child.name} exited with code {child.process.returncode}; "
                          f"stopping the rest[/red]")
            raise typer.Exit(1)
        except KeyboardInterrupt:
            console.print("stopping workers, ingest and server ...")
        finally:
            withdraw(data_dir)
            factory.stop()
            console.print("stopped")
