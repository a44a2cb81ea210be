"""DDP through torchrun on CPU (gloo): 2 processes train like 1 with the same global batch,
checkpoints are rank 0's and resume on every rank; the sharded sampler; the lr scaling rule."""

import doctest
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import relnotes.engine.distributed as distributed
from relnotes.engine import EpochBatchSampler, load_checkpoint
from relnotes.engine.distributed import DistributedEpochBatchSampler, scale_lr, shard

ROOT = Path(__file__).resolve().parents[2]

# The training both the torchrun processes and the test's single process run: a small MLP, SGD
# with momentum, 48 examples, a global batch of 8 (6 steps per epoch), 2 epochs.
SCRIPT = '''
import sys
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from relnotes.engine import fit
from relnotes.engine.distributed import cleanup, init_from_env


def make():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 3))
    model.flag = "set on the model"
    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.randn(48, 6, generator=g), torch.randint(0, 3, (48,), generator=g))
    return model, data


def loss_fn(model, batch):
    x, y = batch
    assert model.flag == "set on the model"  # read through DDP, as detector_loss reads flags
    return F.cross_entropy(model(x), y)


def train(checkpoint_path=None, max_steps=None):
    model, data = make()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, data, loss_fn, optimizer, epochs=2, batch_size=8, seed=3,
                  checkpoint_path=checkpoint_path, max_steps=max_steps, progress=False)
    return model, history


if __name__ == "__main__":
    torch.set_num_threads(1)
    info = init_from_env("gloo")  # on CPU, also where CUDA is (fit's device is "cpu")
    out, max_steps = sys.argv[1], (int(sys.argv[2]) if len(sys.argv) > 2 else None)
    model, history = train(out + ".ckpt", max_steps)
    torch.save({"model": model.state_dict(), "losses": history.step_losses,
                "world": info.world_size}, f"{out}.rank{info.rank}.pt")
    cleanup()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(script: Path, *args: str, nproc: int = 2) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
         "--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(script),
         *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "train.py"
    path.write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location("ddp_train", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def test_two_processes_train_like_one_and_resume_after_an_interruption(script, tmp_path):
    path, module = script
    one_model, one_history = module.train()  # one process, the same global batch of 8

    torchrun(path, str(tmp_path / "ddp"))
    rank0, rank1 = (torch.load(tmp_path / f"ddp.rank{r}.pt") for r in (0, 1))
    assert rank0["world"] == 2
    for name, weight in one_model.state_dict().items():
        torch.testing.assert_close(rank0["model"][name], weight, rtol=1e-5, atol=1e-6)
        assert torch.equal(rank0["model"][name], rank1["model"][name])  # DDP: one model
    assert rank0["losses"] == pytest.approx(one_history.step_losses, rel=1e-5)
    assert rank1["losses"] == rank0["losses"]  # the logged loss is the mean over ranks
    # rank 0 wrote the checkpoint (weights without DDP's "module." prefix) and the only log
    state = load_checkpoint(tmp_path / "ddp.ckpt")
    assert state["step"] == 12 and set(state["model"]) == set(one_model.state_dict())
    log = (tmp_path / "ddp.log.jsonl").read_text().splitlines()
    assert len(log) == 12 + 2  # 12 steps and 2 epochs, once each

    # interrupted after 4 steps (mid-epoch), then resumed by both ranks from rank 0's checkpoint
    torchrun(path, str(tmp_path / "cut"), "4")
    assert load_checkpoint(tmp_path / "cut.ckpt")["step"] == 4
    shutil.copy(tmp_path / "cut.ckpt", tmp_path / "mixed.ckpt")
    torchrun(path, str(tmp_path / "cut"))
    resumed = torch.load(tmp_path / "cut.rank1.pt")
    for name, weight in rank0["model"].items():
        assert torch.equal(resumed["model"][name], weight), name
    assert resumed["losses"] == rank0["losses"]

    # a 2-process checkpoint resumes in one process
    one_resumed, _ = module.train(str(tmp_path / "mixed.ckpt"))
    for name, weight in one_model.state_dict().items():
        torch.testing.assert_close(one_resumed.state_dict()[name], weight, rtol=1e-5, atol=1e-6)


def test_the_shares_of_each_rank_make_up_the_one_process_batches():
    for start in (0, 2):
        full = list(EpochBatchSampler(24, 8, seed=4, epoch=1, start=start))
        shares = [list(DistributedEpochBatchSampler(24, 8, seed=4, epoch=1, start=start,
                                                    rank=r, world_size=4)) for r in range(4)]
        assert [sum((s[i] for s in shares), []) for i in range(len(full))] == full
        assert all(len(b) == 2 for s in shares for b in s)
    assert shard([5, 6, 7, 8, 9, 10], 1, 3) == [7, 8]


def test_uneven_shares_are_refused_with_the_way_out():
    with pytest.raises(ValueError, match=r"batch_size \(the global batch, 6\) must be a multiple "
                                         r"of the world size \(4\)"):
        DistributedEpochBatchSampler(24, 6, seed=0, epoch=0, rank=0, world_size=4)
    with pytest.raises(ValueError, match=r"the last batch of an epoch has 3 examples .* pass "
                                         r"drop_last=True"):
        DistributedEpochBatchSampler(19, 8, seed=0, epoch=0, rank=0, world_size=2)
    sampler = DistributedEpochBatchSampler(19, 8, seed=0, epoch=0, rank=1, world_size=2,
                                           drop_last=True)
    assert len(sampler) == 2
    with pytest.raises(ValueError, match=r"rank must be in \[0, world_size=2\); got 2"):
        DistributedEpochBatchSampler(16, 8, seed=0, epoch=0, rank=2, world_size=2)


def test_linear_scaling_rule():
    assert scale_lr(0.02, global_batch=64, base_batch=16) == pytest.approx(0.08)
    assert scale_lr(5e-3, global_batch=4, base_batch=4) == 5e-3
    with pytest.raises(ValueError, match="global_batch must be an int >= 1; got 0"):
        scale_lr(0.1, 0, 4)
    with pytest.raises(ValueError, match="base_batch must be an int >= 1; got 2.0"):
        scale_lr(0.1, 8, 2.0)
    with pytest.raises(ValueError, match="base_lr must be > 0; got 0.0"):
        scale_lr(0.0, 8, 4)


def test_one_process_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = distributed.init_from_env()
    assert (info.rank, info.world_size, info.is_main) == (0, 1, True)
    assert distributed.world() == (0, 1) and distributed.is_main_process()


def test_more_processes_than_gpus_is_refused_with_the_way_out(monkeypatch):
    # a machine with one GPU and torchrun --nproc_per_node=2: rank 1 has no device (on an H200
    # this was CUDA's "invalid device ordinal" from set_device)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match=r"LOCAL_RANK 1, but this machine has 1 CUDA "
                                           r"device\(s\).*--nproc_per_node at most 1.*'gloo'"):
        distributed.init_from_env()


def test_distributed_true_without_a_process_group_says_what_to_do(script):
    _, module = script
    model, data = module.make()
    from relnotes.engine import fit

    with pytest.raises(ValueError, match="distributed=True but no process group is initialised: "
                                         "start the script with torchrun"):
        fit(model, data, module.loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
            batch_size=8, distributed=True, progress=False)


def test_docstring_examples():
    assert doctest.testmod(distributed).failed == 0
