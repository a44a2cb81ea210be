"""Tests for relnotes.analysis.adversarial: the attacks stay in the allowed set, match the closed
form on a linear model, hurt a trained model, hit their targets, repeat with a seed, and train
through relnotes.engine.fit."""

import copy
import doctest

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import TensorDataset

from relnotes.analysis import adversarial
from relnotes.analysis.adversarial import (
    AdversarialDesign, Attack, adversarial_designs, adversarial_loss_fn, fgsm, pgd, pick_design,
    project, random_targets, recalibrate_batchnorm, robust_accuracy, robustness_metric_fn,
    train_adversarially,
)
from relnotes.engine import evaluate, fit


def test_doctests():
    assert doctest.testmod(adversarial, extraglobs={"torch": torch}).failed == 0


# --- a linear model where the optimal L-inf attack is known -----------------------------------

def linear_model(w, b=0.0):
    """Two logits (0, w.x + b): class 1 iff w.x + b > 0."""
    model = nn.Linear(w.numel(), 2, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.stack([torch.zeros_like(w), w]))
        model.bias.copy_(torch.tensor([0.0, b], dtype=torch.float64))
    return model


W = torch.tensor([0.5, -2.0, 1.0, -0.25, 3.0], dtype=torch.float64)


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_linear_model_optimal_attack_is_the_sign_of_the_weight(attack):
    # max over ||d||_inf <= eps of the loss of class y: move by -eps sign(w) for y = 1, +eps for
    # y = 0 (the margin w.x changes by eps ||w||_1, the most any allowed d can change it).
    model, eps = linear_model(W), 0.1
    x = torch.rand(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    if attack == "fgsm":
        x_adv = fgsm(model, x, y, eps=eps)
    else:
        x_adv = pgd(model, x, y, eps=eps, step_size=0.03, steps=10, random_start=True,
                    generator=torch.Generator().manual_seed(1))
    sign = torch.where(y[:, None] == 1, -1.0, 1.0).double()
    torch.testing.assert_close(x_adv, x + sign * eps * W.sign(), rtol=0, atol=1e-12)
    margin_change = (x_adv - x) @ W
    torch.testing.assert_close(margin_change, sign[:, 0] * eps * W.abs().sum(), rtol=0, atol=1e-12)


def test_linear_model_targeted_moves_towards_the_target():
    model, eps = linear_model(W), 0.05
    x = torch.full((2, 5), 0.5, dtype=torch.float64)
    y, target = torch.tensor([0, 1]), torch.tensor([1, 0])
    x_adv = fgsm(model, x, y, eps=eps, target=target)
    # towards class 1 raises w.x: +eps sign(w); towards class 0 lowers it.
    expected = x + torch.tensor([[1.0], [-1.0]], dtype=torch.float64) * eps * W.sign()
    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-12)


def test_linear_model_robust_accuracy_matches_the_closed_form():
    # Correct under the optimal attack iff the margin |w.x + b| exceeds eps * ||w||_1.
    model, eps = linear_model(W, b=-0.3), 0.04
    g = torch.Generator().manual_seed(3)
    x = torch.rand(200, 5, dtype=torch.float64, generator=g) * 0.6 + 0.2
    score = x @ W - 0.3
    y = (score > 0).long()  # the model is right on every clean point
    expected = (score.abs() > eps * W.abs().sum()).double().mean().item()
    got = robust_accuracy(model, TensorDataset(x, y), {"pgd": Attack.pgd_linf(eps, steps=5)},
                          batch_size=64)
    assert got["clean"] == pytest.approx(1.0)
    assert got["pgd"] == pytest.approx(expected, abs=1e-12)
    assert 0.2 < expected < 0.9  # the test means something: some points flip, some do not


def test_clamp_to_the_input_range_takes_precedence():
    model = linear_model(W)
    x = torch.tensor([[0.0, 1.0, 0.98, 0.02, 1.0]], dtype=torch.float64)
    x_adv = fgsm(model, x, torch.tensor([0]), eps=0.1)  # y = 0: x + eps sign(w), then clamp
    expected = torch.tensor([[0.1, 0.9, 1.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-12)


# --- the allowed set, identity, determinism ------------------------------------------------------

def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 10))


@pytest.mark.parametrize("eps,lower,upper", [(0.1, 0.0, 1.0), (0.3, 0.0, 1.0), (0.5, -1.0, 2.0)])
@pytest.mark.parametrize("targeted", [False, True])
def test_perturbation_stays_in_the_ball_and_the_range(eps, lower, upper, targeted):
    model = small_cnn()
    g = torch.Generator().manual_seed(0)
    x = lower + (upper - lower) * torch.rand(8, 1, 8, 8, generator=g)
    x[0] = lower  # pixels on the borders of the range
    x[1] = upper
    y = torch.randint(0, 10, (8,), generator=g)
    target = random_targets(y, 10, generator=g) if targeted else None
    x_adv = pgd(model, x, y, eps=eps, step_size=eps, steps=5, target=target, lower=lower,
                upper=upper, generator=g)
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= lower and x_adv.max() <= upper
    assert (x_adv - x).abs().max() > 0.5 * eps  # it did move


def test_project_is_a_clamp_to_the_intersection():
    x = torch.tensor([0.05, 0.5, 0.95])
    x_adv = torch.tensor([-1.0, 0.59, 2.0])
    torch.testing.assert_close(project(x_adv, x, 0.1), torch.tensor([0.0, 0.59, 1.0]))
    torch.testing.assert_close(project(torch.tensor([0.0, 0.3, 0.7]), x, 0.1),
                               torch.tensor([0.0, 0.4, 0.85]))


def test_zero_steps_without_random_start_is_the_identity():
    model, x = small_cnn(), torch.rand(4, 1, 8, 8)
    y = torch.tensor([1, 2, 3, 4])
    out = pgd(model, x, y, eps=0.3, step_size=0.1, steps=0, random_start=False)
    assert torch.equal(out, x)
    assert out is not x


def test_zero_eps_is_the_identity():
    model, x = small_cnn(), torch.rand(4, 1, 8, 8)
    out = pgd(model, x, torch.tensor([1, 2, 3, 4]), eps=0.0, step_size=0.1, steps=3)
    assert torch.equal(out, x)


def test_zero_steps_with_random_start_is_uniform_in_the_ball():
    x = torch.full((1, 1, 100, 100), 0.5)
    out = pgd(small_cnn(), x[:, :, :8, :8], torch.tensor([0]), eps=0.2, step_size=0.1, steps=0,
              random_start=True, generator=torch.Generator().manual_seed(0))
    big = pgd(lambda z: torch.zeros(z.shape[0], 2), x, torch.tensor([0]), eps=0.2, step_size=0.1,
              steps=0, generator=torch.Generator().manual_seed(0))
    d = (big - x).flatten()
    assert d.abs().max() <= 0.2 + 1e-7
    assert d.mean() == pytest.approx(0.0, abs=0.01)
    assert d.var() == pytest.approx(0.4**2 / 12, rel=0.05)  # U(-eps, eps) has variance (2 eps)^2/12
    assert not torch.equal(out, x[:, :, :8, :8])


def test_the_same_seed_gives_the_same_attack():
    model, x = small_cnn(), torch.rand(6, 1, 8, 8)
    y = torch.arange(6)
    attack = Attack.pgd_linf(0.2, steps=3, targeted=True)
    a, ta = attack(model, x, y, num_classes=10, generator=torch.Generator().manual_seed(5))
    b, tb = attack(model, x, y, num_classes=10, generator=torch.Generator().manual_seed(5))
    c, _ = attack(model, x, y, num_classes=10, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and torch.equal(ta, tb)
    assert not torch.equal(a, c)


def test_random_targets_are_uniform_over_the_other_classes():
    labels = torch.full((9000,), 2)
    t = random_targets(labels, 4, generator=torch.Generator().manual_seed(0))
    assert (t != 2).all()
    counts = torch.bincount(t, minlength=4).double() / 9000
    torch.testing.assert_close(counts, torch.tensor([1 / 3, 1 / 3, 0, 1 / 3], dtype=torch.float64),
                               rtol=0, atol=0.02)


def test_attack_leaves_parameter_gradients_alone():
    model = small_cnn()
    pgd(model, torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), eps=0.1, step_size=0.05, steps=2)
    assert all(p.grad is None for p in model.parameters())


def small_bn_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


@pytest.mark.parametrize("targeted", [False, True])
def test_attack_in_train_mode_leaves_batchnorm_running_statistics_alone(targeted):
    model = small_bn_cnn().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    target = (y + 1) % 10 if targeted else None
    pgd(model, x, y, eps=0.1, step_size=0.05, steps=3, target=target)
    assert model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_adversarial_loss_moves_the_running_statistics_by_one_forward_on_the_attacked_batch():
    # One training loss = one BatchNorm update, with the final adversarial batch; the PGD-2
    # steps before it must not add their half-attacked batches to the running statistics.
    model = small_bn_cnn().train()
    fresh, twin = copy.deepcopy(model), copy.deepcopy(model)
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    attack = Attack.pgd_linf(0.1, steps=2)
    torch.manual_seed(1)
    adversarial_loss_fn(attack)(model, (x, y))
    torch.manual_seed(1)
    x_adv, _ = attack(twin, x, y)
    with torch.no_grad():
        fresh(x_adv)  # the one update the loss should make
    for name, value in fresh.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=0, msg=name)
    assert int(model[1].num_batches_tracked) == 1


def test_frozen_batchnorm_loss_normalises_with_the_running_statistics_and_keeps_them():
    # frozen_batchnorm: the attack and the loss see eval-mode BatchNorm (running statistics),
    # the running statistics do not move, and the layers go back to train mode afterwards.
    model = small_bn_cnn().train()
    model(torch.rand(8, 1, 8, 8) + 2)  # running statistics far from a batch's own
    before = {k: v.clone() for k, v in model.state_dict().items()}
    eval_twin, train_twin = copy.deepcopy(model).eval(), copy.deepcopy(model).train()
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    attack = Attack.fgsm_rs(0.1)
    torch.manual_seed(3)
    loss = adversarial_loss_fn(attack, frozen_batchnorm=True)(model, (x, y))
    assert model.training and model[1].training
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    torch.manual_seed(3)
    x_adv, _ = attack(eval_twin, x, y)
    assert loss.item() == pytest.approx(F.cross_entropy(eval_twin(x_adv), y).item(), rel=1e-6)
    torch.manual_seed(3)
    unfrozen = adversarial_loss_fn(attack)(train_twin, (x, y))
    assert unfrozen.item() != pytest.approx(loss.item(), rel=1e-3)  # the flag changes the loss


def test_adversarial_designs_and_the_pilot_choice():
    designs = adversarial_designs(0.1, pgd_steps=2, steps=100, lr=2e-3, finetune_steps=50,
                                  finetune_lr=1e-3)
    assert list(designs) == ["pgd-finetune", "pgd-finetune-frozen-bn", "fgsm-rs"]
    assert designs["pgd-finetune"] == AdversarialDesign(Attack.pgd_linf(0.1, steps=2), True, 50,
                                                        1e-3)
    assert designs["pgd-finetune-frozen-bn"].frozen_batchnorm
    assert not designs["pgd-finetune"].frozen_batchnorm
    assert designs["fgsm-rs"] == AdversarialDesign(Attack.fgsm_rs(0.1), False, 100, 2e-3)
    # the highest lower clean accuracy wins, not the highest mean or maximum
    assert pick_design({"a": {"x": 90.0, "y": 40.0}, "b": {"x": 55.0, "y": 50.0},
                        "c": {"x": 49.0, "y": 49.0}}) == "b"
    assert pick_design({"a": {"x": 50.0}, "b": {"x": 50.0}}) == "a"  # first on a tie
    with pytest.raises(ValueError, match="at least one design"):
        pick_design({})


def test_train_adversarially_fine_tunes_with_the_design():
    torch.manual_seed(0)
    model = small_bn_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.rand(32, 1, 8, 8), torch.arange(32) % 10
    design = AdversarialDesign(Attack.fgsm_rs(0.1), True, 3, 1e-3, frozen_batchnorm=True)
    r = train_adversarially(model, design, (x, y), (x, y), batch_size=8)
    assert set(r) >= {"accuracy", "train_loss"}
    assert not torch.equal(model[0].weight, before["0.weight"])        # the weights moved
    assert torch.equal(model[1].running_mean, before["1.running_mean"])  # the statistics did not


def test_recalibrate_batchnorm_averages_the_batch_statistics_of_the_images():
    model = small_bn_cnn().train()
    model(torch.rand(8, 1, 8, 8) + 3)  # running statistics far from those of the images below
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.rand(12, 1, 8, 8)
    recal = recalibrate_batchnorm(model, images, batch_size=6)
    assert not recal.training and model.training
    for name, value in model.state_dict().items():  # the model itself is untouched
        assert torch.equal(value, before[name]), name
    h = model[0](images).detach()  # the conv's outputs, what the BatchNorm sees
    means = torch.stack([b.mean((0, 2, 3)) for b in h.split(6)])
    variances = torch.stack([b.var((0, 2, 3)) for b in h.split(6)])  # unbiased, as BatchNorm
    bn = recal[1]
    torch.testing.assert_close(bn.running_mean, means.mean(0))
    torch.testing.assert_close(bn.running_var, variances.mean(0))
    assert bn.momentum == model[1].momentum == 0.1
    assert torch.equal(recal[0].weight, model[0].weight)


def test_attack_constructors():
    assert Attack.fgsm(0.1) == Attack(0.1, 0.1, 1, random_start=False)
    rs = Attack.fgsm_rs(0.2)
    assert (rs.eps, rs.step_size, rs.steps, rs.random_start) == (0.2, pytest.approx(0.25), 1, True)
    assert Attack.pgd_linf(0.1, steps=10).step_size == pytest.approx(0.025)
    assert Attack.pgd_linf(0.1, steps=10, step_size=0.01, targeted=True).targeted


# --- a trained model ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0  # [1797, 1, 8, 8] in [0, 1]
    y = torch.tensor(d.target, dtype=torch.int64)
    return TensorDataset(x[:1400], y[:1400]), TensorDataset(x[1400:], y[1400:])


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def ce_loss(model, batch):
    images, labels = batch
    return F.cross_entropy(model(images), labels)


@pytest.fixture(scope="module")
def trained(digits):
    train, _ = digits
    torch.manual_seed(0)
    model = mlp()
    fit(model, train, ce_loss, torch.optim.Adam(model.parameters(), lr=2e-2), epochs=3,
        batch_size=64, progress=False)
    return model.eval()


def test_untargeted_pgd_lowers_the_accuracy_of_a_trained_model(trained, digits):
    _, test = digits
    attacks = {"fgsm": Attack.fgsm(0.1), "pgd": Attack.pgd_linf(0.1, steps=10)}
    r = robust_accuracy(trained, test, attacks, batch_size=200)
    assert r["clean"] > 0.85
    assert r["pgd"] < r["clean"] - 0.3
    assert r["pgd"] <= r["fgsm"] + 0.02  # PGD is at least as strong as FGSM


def test_targeted_pgd_drives_predictions_to_the_target(trained, digits):
    _, test = digits
    r = robust_accuracy(trained, test, {"t": Attack.pgd_linf(0.3, steps=20, targeted=True)},
                        num_classes=10, batch_size=200)
    assert r["t_hit"] > 0.9
    assert r["t"] < 0.1


def test_targeted_accuracy_is_above_untargeted_accuracy(trained, digits):
    _, test = digits
    r = robust_accuracy(trained, test, {"u": Attack.pgd_linf(0.08, steps=10),
                                        "t": Attack.pgd_linf(0.08, steps=10, targeted=True)},
                        num_classes=10, batch_size=200)
    assert r["t"] > r["u"]


def test_robust_accuracy_is_repeatable_and_leaves_the_global_generator_alone(trained, digits):
    _, test = digits
    attacks = {"t": Attack.pgd_linf(0.1, steps=3, targeted=True)}
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = robust_accuracy(trained, test, attacks, num_classes=10, seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    b = robust_accuracy(trained, test, attacks, num_classes=10, seed=1)
    assert a == b


def test_adversarial_training_through_fit_raises_robust_accuracy(trained, digits):
    train, test = digits
    attacks = {"pgd": Attack.pgd_linf(0.1, steps=10)}
    torch.manual_seed(0)
    model = mlp()  # the initialisation and schedule of `trained`, only the loss differs
    fit(model, train, adversarial_loss_fn(Attack.fgsm_rs(0.1)),
        torch.optim.Adam(model.parameters(), lr=2e-2), epochs=3, batch_size=64, progress=False)
    adversarial = robust_accuracy(model, test, attacks, batch_size=200)
    regular = robust_accuracy(trained, test, attacks, batch_size=200)
    # measured: 0.45 (regular) vs 0.63 (FGSM-RS training) on this split
    assert adversarial["pgd"] > regular["pgd"] + 0.1


def test_adversarial_loss_fn_mixes_clean_and_adversarial_losses():
    model = small_cnn()
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    clean = F.cross_entropy(model(x), y)
    adv = F.cross_entropy(model(fgsm(model, x, y, eps=0.1)), y)
    loss_fn = adversarial_loss_fn(Attack.fgsm(0.1), clean_weight=0.25)
    assert loss_fn(model, (x, y)).item() == pytest.approx(0.75 * adv.item() + 0.25 * clean.item(),
                                                          rel=1e-6)
    assert adversarial_loss_fn(Attack.fgsm(0.0))(model, (x, y)).item() == pytest.approx(clean.item())


def test_evaluate_with_the_metric_fn_runs_under_no_grad(trained, digits):
    _, test = digits
    out = evaluate(trained, test, robustness_metric_fn({"f": Attack.fgsm(0.1)}), progress=False)
    assert set(out) == {"clean", "f"}


# --- error messages --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(eps=-0.1), "eps must be a finite number >= 0; got -0.1"),
    (dict(eps=float("nan")), "eps must be"),
    (dict(step_size=-1.0), "step_size must be a finite number >= 0"),
    (dict(steps=1.5), "steps must be an int >= 0; got 1.5"),
    (dict(steps=-1), "steps must be an int >= 0"),
    (dict(lower=1.0, upper=0.0), "lower < upper; got lower=1.0, upper=0.0"),
])
def test_bad_attack_arguments(kwargs, match):
    args = dict(eps=0.1, step_size=0.1, steps=1) | kwargs
    with pytest.raises(ValueError, match=match):
        pgd(small_cnn(), torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), **args)


def test_bad_inputs():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"images must lie in the input range \[lower, upper\] "
                                         r"= \[0.0, 1.0\]; got values in \[0, 2\]"):
        pgd(model, torch.zeros(1, 1, 8, 8).index_fill_(3, torch.tensor([5]), 2.0),
            torch.tensor([0]), eps=0.1, step_size=0.1, steps=1)
    with pytest.raises(ValueError, match="images must be a floating-point Tensor"):
        pgd(model, torch.zeros(2, 1, 8, 8, dtype=torch.int64), torch.tensor([0, 1]), eps=0.1,
            step_size=0.1, steps=1)
    with pytest.raises(ValueError, match=r"labels must have one entry per image \(B = 2\); got 3"):
        pgd(model, torch.rand(2, 1, 8, 8), torch.tensor([0, 1, 2]), eps=0.1, step_size=0.1,
            steps=1)
    with pytest.raises(ValueError, match="labels must be a Tensor.B. of int64 classes; got shape"):
        pgd(model, torch.rand(2, 1, 8, 8), torch.tensor([0.0, 1.0]), eps=0.1, step_size=0.1,
            steps=1)
    with pytest.raises(TypeError, match="labels must be a Tensor"):
        pgd(model, torch.rand(2, 1, 8, 8), [0, 1], eps=0.1, step_size=0.1, steps=1)
    with pytest.raises(ValueError, match=r"target must have one entry per image \(B = 2\)"):
        pgd(model, torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), eps=0.1, step_size=0.1, steps=1,
            target=torch.tensor([1]))


def test_bad_helper_arguments():
    with pytest.raises(ValueError, match="num_classes must be an int >= 2; got 1"):
        random_targets(torch.tensor([0]), 1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\); got values in \[0, 5\]"):
        random_targets(torch.tensor([0, 5]), 3)
    with pytest.raises(ValueError, match="a targeted Attack needs num_classes"):
        Attack.pgd_linf(0.1, steps=1, targeted=True)(small_cnn(), torch.rand(1, 1, 8, 8),
                                                     torch.tensor([0]))
    with pytest.raises(ValueError, match="a targeted attack needs num_classes"):
        adversarial_loss_fn(Attack.pgd_linf(0.1, steps=1, targeted=True))
    with pytest.raises(ValueError, match="a targeted attack needs num_classes"):
        robustness_metric_fn({"t": Attack.pgd_linf(0.1, steps=1, targeted=True)})
    with pytest.raises(ValueError, match="'clean' is reserved"):
        robustness_metric_fn({"clean": Attack.fgsm(0.1)})
    with pytest.raises(TypeError, match="attacks must be a mapping from names to Attack"):
        robustness_metric_fn([Attack.fgsm(0.1)])
    with pytest.raises(TypeError, match="attack must be an Attack; got function"):
        adversarial_loss_fn(fgsm)
    with pytest.raises(ValueError, match=r"clean_weight must be a number in \[0, 1\]; got 2"):
        adversarial_loss_fn(Attack.fgsm(0.1), clean_weight=2)
    with pytest.raises(ValueError, match="batch_size must be an int >= 2; got 1"):
        recalibrate_batchnorm(small_bn_cnn(), torch.rand(4, 1, 8, 8), batch_size=1)
    with pytest.raises(ValueError, match="images must be a Tensor"):
        recalibrate_batchnorm(small_bn_cnn(), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        Attack(-1.0, 0.1, 1)
