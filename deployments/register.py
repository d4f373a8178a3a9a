"""Register the factory's deployments from ``deployments/prefect.yaml`` on a Prefect server.

    register(api_url, options)  ->  Registered
        1. work pools from ``definitions.pools`` (process pools ``gpu`` and ``cpu``, with their
           concurrency limits; ``gpu_slots`` overrides the GPU pool's)
        2. tag concurrency limits from ``definitions.concurrency_limits`` (``gpu-render``)
        3. every deployment: flow (imported from its entrypoint, for its name and parameter
           schema), work pool, schedules (cron + time zone + parameters), pull step (the code
           folder), then its event triggers as automations owned by the deployment

The YAML file stays the single description; this module is what ``content-factory serve`` and
the tests use, so that registration needs no ``prefect deploy`` prompts. Running it again
updates everything in place (deployments are upserted by flow and name, owned automations are
replaced, pools and limits are overwritten).

Why both a tag limit and pool limits: the tag limit ``gpu-render`` is server-wide and counts
render *tasks*, so slots = GPUs across all GPU hosts; the ``gpu`` pool's limit counts flow
runs across the pool; ``prefect worker start --limit N`` on each GPU host (N = its GPUs) is
what keeps a host from taking a second run it has no GPU for. Any one of them queues a second
campaign instead of letting it run out of GPU memory; together they hold on one host and many.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from common.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPEC_FILE = Path(__file__).resolve().parent / "prefect.yaml"
GPU_POOL, CPU_POOL, GPU_TAG = "gpu", "cpu", "gpu-render"


@dataclass(frozen=True)
class RegisterOptions:
    """What to register and where the workers find the code."""

    spec_file: Path = SPEC_FILE
    code_dir: Path = PROJECT_ROOT  # the folder entrypoints are relative to, on the workers
    gpu_slots: int | None = None  # GPUs across the gpu pool; None: the numbers in the YAML
    pause_schedules: bool = False  # register schedules inactive (tests that must not render)


@dataclass
class Registered:
    """Ids of what was registered, by name (``flow-name/deployment-name`` for deployments)."""

    deployments: dict[str, str] = field(default_factory=dict)
    work_pools: dict[str, int | None] = field(default_factory=dict)
    concurrency_limits: dict[str, int] = field(default_factory=dict)
    automations: dict[str, list[str]] = field(default_factory=dict)


def load_spec(path: Path = SPEC_FILE) -> dict[str, Any]:
    """The parsed ``prefect.yaml`` (anchors resolved)."""
    try:
        spec = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the deployments file: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("deployments"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'deployments' list")
    return spec


def entrypoints(spec: dict[str, Any]) -> list[str]:
    return sorted({d["entrypoint"] for d in spec["deployments"]})


def load_entrypoint(entrypoint: str, code_dir: Path = PROJECT_ROOT):
    """Import the flow behind ``path/to/file.py:function`` relative to ``code_dir``."""
    from prefect.flows import load_flow_from_entrypoint

    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))  # the flow's own imports (tasks, storage, ...)
    path, _, name = entrypoint.partition(":")
    target = Path(code_dir) / path
    if not target.is_file():
        raise ConfigError(f"deployment entrypoint {entrypoint!r}: {target} does not exist")
    return load_flow_from_entrypoint(f"{target}:{name}")


def pull_steps(spec: dict[str, Any], code_dir: Path) -> list[dict[str, Any]]:
    """The file's pull steps with ``{{ $FACTORY_CODE_DIR }}`` filled in."""
    rendered = yaml.safe_dump(spec.get("pull") or [])
    rendered = rendered.replace("{{ $FACTORY_CODE_DIR }}", str(code_dir))
    return yaml.safe_load(rendered) or []


def schedule_create(item: dict[str, Any], *, paused: bool = False):
    """One ``schedules:`` item (cron, interval in seconds or rrule) as Prefect's create payload."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    tz = item.get("timezone")
    if "cron" in item:
        schedule = CronSchedule(cron=item["cron"], timezone=tz, day_or=item.get("day_or", True))
    elif "interval" in item:
        schedule = IntervalSchedule(interval=timedelta(seconds=float(item["interval"])),
                                    timezone=tz)
    elif "rrule" in item:
        schedule = RRuleSchedule(rrule=item["rrule"], timezone=tz)
    else:
        raise ConfigError(f"schedule {item!r}: needs 'cron', 'interval' or 'rrule'")
    return DeploymentScheduleCreate(schedule=schedule,
                                    active=bool(item.get("active", True)) and not paused,
                                    parameters=item.get("parameters") or {})


async def aregister(api_url: str | None = None,
                    options: RegisterOptions = RegisterOptions()) -> Registered:
    """Create or update pools, limits, deployments, schedules and triggers on ``api_url``."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if api_url is None:
        return await _register(options)
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return await _register(options)


def register(api_url: str | None = None,
             options: RegisterOptions = RegisterOptions()) -> Registered:
    """Synchronous :func:`aregister` (for the CLI and tests)."""
    return asyncio.run(aregister(api_url, options))


async def _register(options: RegisterOptions) -> Registered:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
    from prefect.utilities.callables import parameter_schema
    from prefect.workers.process import ProcessWorker

    spec = load_spec(options.spec_file)
    definitions = spec.get("definitions") or {}
    done = Registered()
    steps = pull_steps(spec, options.code_dir)
    async with get_client() as client:
        for name, pool in (definitions.get("pools") or {}).items():
            limit = pool.get("concurrency_limit")
            if name == GPU_POOL and options.gpu_slots is not None:
                limit = options.gpu_slots
            kind = pool.get("type", "process")
            if kind != "process":
                raise ConfigError(f"pool {name!r}: register.py creates process pools only; "
                                  f"create {kind!r} pools with `prefect work-pool create`")
            await client.create_work_pool(
                WorkPoolCreate(name=name, type=kind, description=pool.get("description"),
                               concurrency_limit=limit,
                               base_job_template=ProcessWorker.get_default_base_job_template()),
                overwrite=True)
            done.work_pools[name] = limit

        for tag, slots in (definitions.get("concurrency_limits") or {}).items():
            if tag == GPU_TAG and options.gpu_slots is not None:
                slots = options.gpu_slots
            await client.create_concurrency_limit(tag=tag, concurrency_limit=int(slots))
            done.concurrency_limits[tag] = int(slots)

        for item in spec["deployments"]:
            flow = load_entrypoint(item["entrypoint"], options.code_dir)
            pool = item.get("work_pool") or {}
            flow_id = await client.create_flow_from_name(flow.name)
            deployment_id = await client.create_deployment(
                flow_id=flow_id, name=item["name"], entrypoint=item["entrypoint"],
                description=item.get("description"), tags=item.get("tags") or [],
                parameters=item.get("parameters") or {},
                schedules=[schedule_create(s, paused=options.pause_schedules)
                           for s in item.get("schedules") or []],
                work_pool_name=pool.get("name"), work_queue_name=pool.get("work_queue_name"),
                job_variables=pool.get("job_variables") or {}, pull_steps=steps,
                parameter_openapi_schema=parameter_schema(flow).model_dump(exclude_unset=True),
                enforce_parameter_schema=True, path=None)
            full_name = f"{flow.name}/{item['name']}"
            done.deployments[full_name] = str(deployment_id)

            # Triggers are anonymous in the file: replace all automations this deployment owns.
            await client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            done.automations[full_name] = []
            for index, raw in enumerate(item.get("triggers") or []):
                trigger = DeploymentEventTrigger(
                    **{"name": f"{full_name} trigger {index + 1}", **raw})
                trigger.set_deployment_id(deployment_id)
                automation_id = await client.create_automation(trigger.as_automation())
                done.automations[full_name].append(str(automation_id))
    return done
