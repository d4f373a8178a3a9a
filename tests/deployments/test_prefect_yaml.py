"""deployments/prefect.yaml: pools and schedules in one definitions block, entrypoints that exist."""

from __future__ import annotations

import inspect
from pathlib import Path

from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import Flow

from deployments.register import (
    PROJECT_ROOT,
    SPEC_FILE,
    entrypoints,
    load_entrypoint,
    load_spec,
    pull_steps,
    schedule_create,
)

# The parameters each entrypoint must accept (the contract the triggers and schedules rely on).
CONTRACT = {
    "flows/campaign.py:campaign": {"spec_path", "run_id", "backend"},
    "flows/product.py:product_clip": {"sku", "product", "template", "run_id", "backend"},
    "flows/localize.py:localize": {"run_id", "locales"},
}


def test_every_entrypoint_imports_as_a_flow_with_the_contract_parameters():
    spec = load_spec()
    assert set(entrypoints(spec)) == set(CONTRACT)
    for entrypoint in entrypoints(spec):
        flow = load_entrypoint(entrypoint, PROJECT_ROOT)
        assert isinstance(flow, Flow), entrypoint
        params = set(inspect.signature(flow.fn).parameters)
        assert CONTRACT[entrypoint] <= params, (entrypoint, CONTRACT[entrypoint] - params)


def test_pools_schedules_and_triggers_live_in_definitions():
    spec = load_spec()
    definitions = spec["definitions"]
    assert set(definitions["work_pools"]) == {"gpu", "cpu"}
    assert set(definitions["pools"]) == {"gpu", "cpu"}
    assert definitions["concurrency_limits"]["gpu-render"] >= 1
    by_name = {(d["entrypoint"], d["name"]): d for d in spec["deployments"]}
    # Every deployment points at a defined pool; renders go to gpu, localization to cpu.
    for d in spec["deployments"]:
        assert d["work_pool"] in definitions["work_pools"].values(), d["name"]
    assert by_name[("flows/product.py:product_clip", "catalog")]["work_pool"]["name"] == "gpu"
    assert by_name[("flows/localize.py:localize", "on-demand")]["work_pool"]["name"] == "cpu"
    # The scheduled campaign's schedules are the ones defined above, each with its own time zone
    # and parameters pointing at a spec that exists.
    scheduled = by_name[("flows/campaign.py:campaign", "scheduled")]["schedules"]
    assert scheduled == list(definitions["schedules"].values())
    assert len({s["timezone"] for s in scheduled}) == len(scheduled)
    for s in scheduled:
        assert (PROJECT_ROOT / s["parameters"]["spec_path"]).is_file()
    [trigger] = by_name[("flows/product.py:product_clip", "catalog")]["triggers"]
    assert set(trigger["expect"]) == {"catalog.product.created", "catalog.product.updated"}
    assert trigger["parameters"] == {"sku": "{{ event.payload.sku }}",
                                     "product": "{{ event.payload }}"}


def test_triggers_build_prefect_automations():
    import uuid

    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    spec = load_spec()
    [deployment] = [d for d in spec["deployments"] if d.get("triggers")]
    trigger = DeploymentEventTrigger(**deployment["triggers"][0])
    deployment_id = uuid.uuid4()
    trigger.set_deployment_id(deployment_id)
    automation = trigger.as_automation()
    assert automation.trigger.expect == {"catalog.product.created", "catalog.product.updated"}
    assert automation.actions[0].deployment_id == deployment_id


def test_pull_step_and_schedules_are_filled_in(tmp_path: Path):
    spec = load_spec(SPEC_FILE)
    steps = pull_steps(spec, tmp_path)
    assert steps == [{"prefect.deployments.steps.set_working_directory":
                      {"directory": str(tmp_path)}}]
    berlin = schedule_create({"cron": "0 9 * * 1", "timezone": "Europe/Berlin",
                              "parameters": {"spec_path": "x.yaml"}}, paused=True)
    assert isinstance(berlin.schedule, CronSchedule)
    assert berlin.schedule.timezone == "Europe/Berlin" and berlin.active is False
    assert berlin.parameters == {"spec_path": "x.yaml"}
