"""Where the experts live: offload moves only the active expert, and a CFG batch that runs out
of GPU memory splits in two. Fake modules record their moves, so this runs without a GPU."""

from __future__ import annotations

import torch

from model.pipeline import ExpertPlacement, SplitOnOOM


class FakeExpert(torch.nn.Module):
    """Records every ``.to()`` and answers with its input; may run out of memory on a batch."""

    def __init__(self, name: str, moves: list, oom_batch: int | None = None) -> None:
        super().__init__()
        self.name, self.moves, self.oom_batch, self.calls = name, moves, oom_batch, []

    def to(self, device, *args, **kwargs):  # noqa: D401 - records instead of moving
        self.moves.append((self.name, str(device)))
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
