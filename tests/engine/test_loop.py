"""Tests for relnotes.engine.loop: fit (order, checkpoints, exact resume, NaN stop) and evaluate."""

import doctest
import math

import pytest
import torch
import torch.nn.functional as F
import tqdm.std
from torch import nn
from torch.utils.data import Dataset, TensorDataset

import relnotes.engine.loop as loop
import relnotes.engine.train_log as train_log
import relnotes.engine.seed
from relnotes.engine import (
    EpochBatchSampler,
    NonFiniteLossError,
    epoch_permutation,
    evaluate,
    fit,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)

N, D, C, BATCH, EPOCHS, SEED = 50, 4, 3, 8, 3, 5  # 7 batches per epoch, the last one of 2
BATCHES = 7
STEPS = EPOCHS * BATCHES


def make_dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(123)
    return TensorDataset(torch.randn(N, D, generator=g), torch.randint(0, C, (N,), generator=g))


def make_training(init_seed: int = 0):
    """A model with dropout (RNG), Adam (optimizer state) and a scheduler (scheduler state)."""
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, C))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    return model, optimizer, scheduler


def loss_fn(model, batch):
    inputs, targets = batch
    return F.cross_entropy(model(inputs), targets)


def train(dataset=None, loss=loss_fn, **kwargs):
    """Fresh model, optimizer and scheduler, then fit; returns (model, history)."""
    model, optimizer, scheduler = make_training()
    options = dict(epochs=EPOCHS, batch_size=BATCH, seed=SEED, scheduler=scheduler, progress=False)
    options.update(kwargs)
    history = fit(model, make_dataset() if dataset is None else dataset, loss, optimizer, **options)
    return model, history


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


def differs(a: nn.Module, b: nn.Module) -> bool:
    return any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                      b.state_dict().values()))


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# --- the example order ----------------------------------------------------------------------------

def test_epoch_permutation_is_a_pure_function_of_seed_and_epoch():
    assert torch.equal(epoch_permutation(N, 1, 2), epoch_permutation(N, 1, 2))
    assert not torch.equal(epoch_permutation(N, 1, 2), epoch_permutation(N, 1, 3))
    assert sorted(epoch_permutation(N, 1, 2).tolist()) == list(range(N))


def test_sampler_covers_every_example_once_and_starts_at_an_offset():
    batches = list(EpochBatchSampler(N, BATCH, seed=SEED, epoch=1))
    assert [len(b) for b in batches] == [8] * 6 + [2]
    assert sum(batches, []) == epoch_permutation(N, SEED, 1).tolist()
    resumed = EpochBatchSampler(N, BATCH, seed=SEED, epoch=1, start=3)
    assert len(resumed) == 4
    assert list(resumed) == batches[3:]


def test_sampler_drop_last():
    batches = list(EpochBatchSampler(N, BATCH, seed=SEED, epoch=0, drop_last=True))
    assert [len(b) for b in batches] == [8] * 6


def test_epoch_loader_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    list(loop._epoch_loader(make_dataset(), BATCH, SEED, 0, 0, False, None, 0))
    assert torch.equal(torch.get_rng_state(), state)


# --- fit: history, determinism --------------------------------------------------------------------

def test_fit_returns_step_and_epoch_losses():
    _, history = train()
    assert len(history.step_losses) == STEPS
    assert all(math.isfinite(v) for v in history.step_losses)
    assert len(history.epoch_losses) == EPOCHS
    for epoch, mean in enumerate(history.epoch_losses):
        chunk = history.step_losses[epoch * BATCHES:(epoch + 1) * BATCHES]
        assert mean == pytest.approx(sum(chunk) / BATCHES)
    assert history.metrics == []
    assert history.epoch_losses[-1] < history.epoch_losses[0]  # it learns something


def test_same_seed_and_threads_give_identical_runs():
    seed_everything(0, threads=1)
    model_a, history_a = train()
    seed_everything(0, threads=1)
    model_b, history_b = train()
    assert_same_weights(model_a, model_b)
    assert history_a.step_losses == history_b.step_losses
    model_c, history_c = train(seed=SEED + 1)
    assert differs(model_a, model_c)
    assert history_c.step_losses != history_a.step_losses


def test_fit_restores_model_mode_and_accepts_dict_batches():
    class DictDataset(Dataset):
        def __init__(self):
            self.inner = make_dataset()

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            x, y = self.inner[i]
            return {"x": x, "y": y}

    model, optimizer, _ = make_training()
    model.eval()
    history = fit(model, DictDataset(), lambda m, b: F.cross_entropy(m(b["x"]), b["y"]), optimizer,
                  epochs=1, batch_size=BATCH, device=torch.device("cpu"), progress=False)
    assert not model.training
    assert len(history.step_losses) == BATCHES


def test_fit_evaluates_after_every_epoch():
    eval_set = TensorDataset(*make_dataset()[:20])
    _, history = train(eval_dataset=eval_set)
    assert len(history.metrics) == EPOCHS
    assert set(history.metrics[0]) == {"loss"}  # the default metric is loss_fn
    model, _ = train(epochs=1)  # the same first epoch, then evaluate by hand
    assert history.metrics[0]["loss"] == pytest.approx(
        evaluate(model, eval_set, lambda m, b: {"loss": loss_fn(m, b)}, batch_size=BATCH,
                 progress=False)["loss"])


def test_progress_bar_shows_loss(capsys):
    train(epochs=1, progress=True, eval_dataset=make_dataset())
    err = capsys.readouterr().err
    assert "loss=" in err and "epoch 1/1" in err and "eval_loss=" in err
    train(epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_loop_uses_the_plain_text_tqdm():
    assert loop.tqdm is tqdm.std.tqdm


@pytest.mark.parametrize("module", [loop, relnotes.engine.seed])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


# --- fit: checkpoints and exact resume ------------------------------------------------------------

@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_resume_mid_epoch_is_bit_identical(tmp_path, interval):
    reference, reference_history = train(scheduler_interval=interval)
    path = tmp_path / "ckpt.pt"
    _, first = train(scheduler_interval=interval, checkpoint_path=path, max_steps=10)
    assert len(first.step_losses) == 10
    state = load_checkpoint(path)
    assert (state["epochs_done"], state["batches_done"], state["step"]) == (1, 3, 10)

    resumed, history = train(scheduler_interval=interval, checkpoint_path=path)
    assert_same_weights(resumed, reference)
    assert history.step_losses == reference_history.step_losses
    assert history.epoch_losses == reference_history.epoch_losses
    assert load_checkpoint(path)["step"] == STEPS


@pytest.fixture
def crashed_checkpoint(tmp_path):
    """A run with a checkpoint every 4 steps, interrupted in its 11th step: the checkpoint's path
    (tmp_path / "ckpt.pt", saved at step 8; steps 9 and 10 ran after it)."""
    path = tmp_path / "ckpt.pt"
    calls = 0

    def crashing_loss(model, batch):
        nonlocal calls
        calls += 1
        if calls == 11:
            raise KeyboardInterrupt
        return loss_fn(model, batch)

    with pytest.raises(KeyboardInterrupt):
        train(loss=crashing_loss, checkpoint_path=path, checkpoint_every=4)
    assert load_checkpoint(path)["step"] == 8
    return path


def test_resume_after_a_crash_redoes_the_steps_since_the_last_checkpoint(crashed_checkpoint):
    reference, _ = train()
    resumed, _ = train(checkpoint_path=crashed_checkpoint, checkpoint_every=4)
    assert_same_weights(resumed, reference)


def test_resume_without_restoring_rng_would_differ(tmp_path, monkeypatch):
    """The resume test can fail: skip restoring the generators and dropout differs."""
    reference, _ = train()
    path = tmp_path / "ckpt.pt"
    train(checkpoint_path=path, max_steps=10)
    monkeypatch.setattr(loop, "set_rng_state", lambda state: None)
    resumed, _ = train(checkpoint_path=path)
    assert differs(resumed, reference)


def test_resume_skips_finished_batches_without_loading_them(tmp_path):
    class Recording(Dataset):
        def __init__(self):
            self.inner, self.seen = make_dataset(), []

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            self.seen.append(i)
            return self.inner[i]

    path = tmp_path / "ckpt.pt"
    train(checkpoint_path=path, max_steps=10)
    dataset = Recording()
    train(dataset, checkpoint_path=path)
    expected = epoch_permutation(N, SEED, 1)[3 * BATCH:].tolist()
    expected += epoch_permutation(N, SEED, 2).tolist()
    assert dataset.seen == expected


def test_finished_run_just_loads(tmp_path):
    path = tmp_path / "ckpt.pt"
    trained, history = train(checkpoint_path=path)
    again, history_again = train(checkpoint_path=path)
    assert_same_weights(again, trained)
    assert history_again == history
    _, fresh = train(checkpoint_path=path, resume=False, epochs=1)
    assert len(fresh.step_losses) == BATCHES


def test_resume_with_another_batch_size_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    train(checkpoint_path=path, max_steps=3)
    with pytest.raises(ValueError, match=r"written with batch_size=8, but this call has "
                                         r"batch_size=4"):
        train(checkpoint_path=path, batch_size=4)


def test_resume_from_a_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"weights": torch.zeros(2)})
    with pytest.raises(ValueError, match="was not written by fit"):
        train(checkpoint_path=path)


# --- fit: non-finite loss -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, bad):
    path = tmp_path / "ckpt.pt"
    calls = 0

    def exploding_loss(model, batch):
        nonlocal calls
        calls += 1
        loss = loss_fn(model, batch)
        return loss * bad if calls == 10 else loss

    with pytest.raises(NonFiniteLossError) as error:
        train(loss=exploding_loss, checkpoint_path=path, checkpoint_every=2)
    message = str(error.value)
    assert f"loss is {bad} at epoch 2/3, batch 3/7 (step 10)" in message
    assert f"last good checkpoint is {path} (after step 8)" in message
    state = load_checkpoint(path)
    assert state["step"] == 8
    assert len(state["history"]["step_losses"]) == 8
    good, _ = train(max_steps=8)  # the checkpoint holds exactly the state after step 8
    for name, tensor in good.state_dict().items():
        assert torch.equal(state["model"][name], tensor), name


def test_non_finite_loss_without_checkpoint_says_so():
    with pytest.raises(NonFiniteLossError, match=r"No checkpoint is kept \(checkpoint_path=None\)"):
        train(loss=lambda m, b: loss_fn(m, b) * float("nan"))


def test_non_scalar_loss_is_refused():
    with pytest.raises(ValueError, match=r"scalar Tensor \(shape \(\)\); got shape \(8,\)"):
        train(loss=lambda m, b: F.cross_entropy(m(b[0]), b[1], reduction="none"))


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "epochs must be an int >= 1; got 0"),
    (dict(batch_size=0), "batch_size must be an int >= 1; got 0"),
    (dict(batch_size=2.0), "batch_size must be an int >= 1; got 2.0"),
    (dict(checkpoint_every=0), "checkpoint_every must be an int >= 1 or None; got 0"),
    (dict(max_steps=-1), "max_steps must be an int >= 1 or None; got -1"),
    (dict(seed=-3), r"seed must be an int in \[0, 2\*\*32\); got -3"),
    (dict(scheduler_interval="batch"), "scheduler_interval must be 'epoch' or 'step'; got 'batch'"),
    (dict(batch_size=64, drop_last=True), "batch_size=64 > len\\(dataset\\)=50 leaves no batch"),
    (dict(metric_fn=lambda m, b: {}), "metric_fn is given but eval_dataset is None"),
])
def test_fit_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(**kwargs)


def test_ddp_guards_name_the_global_batch_and_syncbn_on_cpu(monkeypatch):
    """Two ranks (the process group faked): checked before anything is moved or wrapped."""
    monkeypatch.setattr(loop, "_world", lambda distributed: (0, 2))
    with pytest.raises(ValueError, match=r"batch_size is the global batch under DDP and must be a "
                                         r"multiple of the world size; got batch_size=7, world size 2"):
        train(batch_size=7)
    with pytest.raises(ValueError, match=r"sync_batchnorm=True needs CUDA devices: PyTorch's "
                                         r"SyncBatchNorm rejects cpu tensors; pass sync_batchnorm=False"):
        train(sync_batchnorm=True)


def test_fit_rejects_empty_dataset():
    empty = TensorDataset(torch.zeros(0, D), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="dataset is empty; expected at least one example"):
        train(empty)


# --- evaluate -------------------------------------------------------------------------------------

def test_evaluate_weights_batches_by_size():
    dataset = make_dataset()  # batches of 8 and a last one of 2: a plain mean of means is wrong
    inputs = dataset.tensors[0]
    result = evaluate(nn.Identity(), dataset, lambda m, b: {"mean": m(b[0])[:, 0].mean()},
                      batch_size=BATCH, progress=False)
    assert result["mean"] == pytest.approx(inputs[:, 0].mean().item(), abs=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_runs_in_eval_mode_without_grad_and_restores_mode(training):
    model, _, _ = make_training()
    model.train(training)
    seen = []

    def metric_fn(m, batch):
        seen.append((m.training, torch.is_grad_enabled()))
        return {"loss": loss_fn(m, batch)}

    state = torch.get_rng_state()
    evaluate(model, make_dataset(), metric_fn, batch_size=16, progress=False)
    assert set(seen) == {(False, False)}
    assert model.training == training
    assert torch.equal(torch.get_rng_state(), state)


def test_evaluate_rejects_bad_arguments():
    model = nn.Identity()
    with pytest.raises(ValueError, match="dataset is empty"):
        evaluate(model, TensorDataset(torch.zeros(0, D)), lambda m, b: {}, progress=False)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1; got 0"):
        evaluate(model, make_dataset(), lambda m, b: {}, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="map-style Dataset with __len__; got generator"):
        evaluate(model, (x for x in range(3)), lambda m, b: {}, progress=False)


# --- fit: mixed precision -------------------------------------------------------------------

def dtype_recording_loss(seen):
    def loss(model, batch):
        inputs, targets = batch
        logits = model(inputs)
        seen.add(logits.dtype)
        return F.cross_entropy(logits, targets)
    return loss


@pytest.mark.parametrize("precision, dtype", [("float32", torch.float32),
                                              ("bfloat16", torch.bfloat16),
                                              ("float16", torch.float16)])
def test_precision_runs_the_forward_pass_under_autocast(precision, dtype):
    seen = set()
    model, history = train(loss=dtype_recording_loss(seen), precision=precision, epochs=1)
    assert seen == {dtype}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert all(math.isfinite(v) for v in history.step_losses)


def test_float32_is_the_plain_loop():
    default, _ = train(epochs=1)
    explicit, _ = train(epochs=1, precision="float32")
    assert_same_weights(explicit, default)
    half, _ = train(epochs=1, precision="bfloat16")
    assert differs(half, default)


def test_float16_keeps_the_scaler_in_the_checkpoint_and_resumes_bit_identical(tmp_path):
    reference, reference_history = train(precision="float16")
    path = tmp_path / "ckpt.pt"
    train(precision="float16", checkpoint_path=path, max_steps=10)
    state = load_checkpoint(path)
    assert state["scaler"]["scale"] == 2.0**16  # GradScaler's initial scale, no overflow yet
    assert state["run"]["precision"] == "float16"
    resumed, history = train(precision="float16", checkpoint_path=path)
    assert_same_weights(resumed, reference)
    assert history.step_losses == reference_history.step_losses


def test_float16_skips_a_step_whose_gradients_overflow_and_backs_off(tmp_path):
    def huge_loss(model, batch):  # d(loss)/d(logits) * 2**16 overflows float16 (max 65504)
        inputs, _ = batch
        return model(inputs).float().sum() * 1e3

    before, _, _ = make_training()
    path = tmp_path / "ckpt.pt"
    after, _ = train(loss=huge_loss, precision="float16", checkpoint_path=path, max_steps=1)
    assert_same_weights(after, before)  # the step was skipped
    assert load_checkpoint(path)["scaler"]["scale"] == 2.0**15


def test_resume_with_another_precision_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    train(checkpoint_path=path, max_steps=3, precision="bfloat16")
    with pytest.raises(ValueError, match=r"written with precision='bfloat16', but this call has "
                                         r"precision='float32'"):
        train(checkpoint_path=path)
    path = tmp_path / "fp32.pt"
    train(checkpoint_path=path, max_steps=3)
    assert "precision" not in load_checkpoint(path)["run"]  # as float32 checkpoints always were
    with pytest.raises(ValueError, match=r"written with precision='float32', but this call has "
                                         r"precision='float16'"):
        train(checkpoint_path=path, precision="float16")
    with pytest.raises(ValueError, match=r"precision must be one of 'float32', 'bfloat16', "
                                         r"'float16'; got 'fp8'"):
        train(precision="fp8")


# --- fit: the JSON-lines log -----------------------------------------------------------------

def read_log(path):
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_log_beside_the_checkpoint_has_every_step_and_epoch(tmp_path):
    _, history = train(checkpoint_path=tmp_path / "ckpt.pt", eval_dataset=make_dataset())
    records = read_log(tmp_path / "ckpt.log.jsonl")
    steps = [r for r in records if r["event"] == "step"]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1))
    assert [r["loss"] for r in steps] == history.step_losses
    assert [(r["epoch"], r["batch"]) for r in steps[:8]] == [(1, b) for b in range(1, 8)] + [(2, 1)]
    assert steps[0]["lr"] == [0.01] and steps[BATCHES]["lr"] == [pytest.approx(0.007)]
    assert [r["loss"] for r in epochs] == history.epoch_losses
    assert [r["metrics"] for r in epochs] == history.metrics
    assert (tmp_path / "ckpt.tb").exists() == train_log._tensorboard_available()
    train(checkpoint_path=tmp_path / "quiet.pt", log=False)
    assert not (tmp_path / "quiet.log.jsonl").exists()


def test_the_log_of_a_resumed_run_shows_each_step_once(tmp_path, crashed_checkpoint):
    path = crashed_checkpoint
    assert [r["step"] for r in read_log(tmp_path / "ckpt.log.jsonl")
            if r["event"] == "step"] == list(range(1, 11))  # 9 and 10 came after the checkpoint
    _, history = train(checkpoint_path=path, checkpoint_every=4)
    records = read_log(tmp_path / "ckpt.log.jsonl")
    assert [r["step"] for r in records if r["event"] == "step"] == list(range(1, STEPS + 1))
    assert [r["loss"] for r in records if r["event"] == "step"] == history.step_losses
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1, 2, 3]
    _, fresh = train(checkpoint_path=path, resume=False, epochs=1)
    assert len(read_log(tmp_path / "ckpt.log.jsonl")) == BATCHES + 1  # a fresh run starts over
