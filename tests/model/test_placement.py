"""Where the experts live: offload moves only the active expert, a move that runs out of memory
halfway is parked back, the offload decision comes from free memory, and a CFG batch that runs
out of GPU memory splits in two. Fake modules record their moves, so this runs without a GPU."""

from __future__ import annotations

import pytest
import torch

from model.pipeline import (
    WORKING_MEMORY_BYTES,
    ExpertPlacement,
    RuntimeSettings,
    SplitOnOOM,
    decide_offload,
    keep_experts_resident,
)


class FakeExpert(torch.nn.Module):
    """Records every ``.to()`` and answers with its input; may run out of memory on a batch or
    (after moving part of itself) on the way to the GPU."""

    def __init__(self, name: str, moves: list, oom_batch: int | None = None,
                 oom_on_move: bool = False) -> None:
        super().__init__()
        self.name, self.moves, self.oom_batch, self.calls = name, moves, oom_batch, []
        self.oom_on_move = oom_on_move

    def to(self, device, *args, **kwargs):  # noqa: D401 - records instead of moving
        self.moves.append((self.name, str(device)))
        if self.oom_on_move and str(device) != "cpu":
            raise torch.OutOfMemoryError("fake: out of memory halfway through the move")
        return self

    def forward(self, latents, timesteps, context):
        self.calls.append(latents.shape[0])
        if self.oom_batch is not None and latents.shape[0] >= self.oom_batch:
            raise torch.OutOfMemoryError("fake: out of memory")
        return latents * 2


def test_offload_keeps_only_the_active_expert_on_the_device():
    moves: list = []
    experts = {"high": FakeExpert("high", moves), "low": FakeExpert("low", moves)}
    place = ExpertPlacement(experts, torch.device("cuda"), offload=True)
    place("high")
    place("high")  # already there: no move
    assert moves == [("high", "cuda")]
    place("low")
    assert moves[1:] == [("high", "cpu"), ("low", "cuda")]
    place.park()
    assert moves[-1] == ("low", "cpu") and place.active is None


def test_without_offload_nothing_goes_back_to_the_cpu():
    moves: list = []
    experts = {"high": FakeExpert("high", moves), "low": FakeExpert("low", moves)}
    place = ExpertPlacement(experts, torch.device("cuda"), offload=False)
    place("high"), place("low"), place("high")
    place.park()
    assert all(device == "cuda" for _, device in moves)


def test_a_single_expert_model_serves_both_names():
    moves: list = []
    place = ExpertPlacement({"high": FakeExpert("high", moves)}, torch.device("cpu"),
                            offload=False)
    assert place("low") is place("high")


def test_a_cfg_batch_that_runs_out_of_memory_runs_in_halves_from_then_on():
    expert = FakeExpert("high", [], oom_batch=2)
    run = SplitOnOOM(expert)
    x, t, c = torch.ones(2, 3), torch.zeros(2), torch.ones(2, 4)
    out = run(x, t, c)
    assert torch.equal(out, x * 2) and expert.calls == [2, 1, 1] and run.split
    run(x, t, c)
    assert expert.calls[3:] == [1, 1]  # no second try at batch 2


def test_out_of_memory_on_a_single_sample_is_raised():
    run = SplitOnOOM(FakeExpert("high", [], oom_batch=1))
    try:
        run(torch.ones(1, 3), torch.zeros(1), torch.ones(1, 4))
    except torch.OutOfMemoryError:
        pass
    else:
        raise AssertionError("expected OutOfMemoryError")


def test_a_move_that_runs_out_of_memory_halfway_is_parked_back():
    moves: list = []
    experts = {"high": FakeExpert("high", moves), "low": FakeExpert("low", moves, oom_on_move=True)}
    place = ExpertPlacement(experts, torch.device("cuda"), offload=True)
    place("high")
    with pytest.raises(torch.OutOfMemoryError):
        place("low")
    # the old expert went back, the half-moved one was parked back, and nothing is "active"
    assert moves == [("high", "cuda"), ("high", "cpu"), ("low", "cuda"), ("low", "cpu")]
    assert place.active is None
    place.park()  # nothing left to move
    assert len(moves) == 4


# One A14B expert: 14,288,491,584 parameters in bf16 (docs/reference/wan22-model-facts.md),
# umT5-XXL 5.68B in bf16.
A14B_EXPERT = 14_288_491_584 * 2
UMT5_XXL = 5_680_000_000 * 2
GIB = 2 ** 30


@pytest.mark.parametrize("free_gib,resident", [(139, True), (79, False), (40, False)])
def test_both_experts_stay_resident_when_the_gpu_holds_them(free_gib, resident):
    # H200 (139 GiB free): both experts + text encoder + working memory fit; H100 80 GB does not
    assert keep_experts_resident([A14B_EXPERT, A14B_EXPERT, UMT5_XXL], free_gib * GIB) is resident


class Sized(torch.nn.Module):
    def __init__(self, mib: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(mib * 2 ** 18))  # fp32: 4 bytes each


def test_the_offload_decision_reads_free_memory():
    modules = [Sized(2), Sized(2), Sized(1)]  # 5 MiB
    fits = lambda device: WORKING_MEMORY_BYTES + 5 * 2 ** 20  # noqa: E731
    short = lambda device: WORKING_MEMORY_BYTES + 4 * 2 ** 20  # noqa: E731
    cuda = torch.device("cuda")
    auto = RuntimeSettings(offload="auto")
    assert decide_offload(auto, cuda, modules, free_memory=fits) is False
    assert decide_offload(auto, cuda, modules, free_memory=short) is True
    assert decide_offload(RuntimeSettings(offload=True), cuda, modules, free_memory=fits) is True
    assert decide_offload(RuntimeSettings(offload="false"), cuda, modules,
                          free_memory=short) is False
    never_asked = lambda device: pytest.fail("a CPU has no GPU memory to read")  # noqa: E731
    assert decide_offload(auto, torch.device("cpu"), modules, free_memory=never_asked) is False
