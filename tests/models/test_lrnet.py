import pytest
import torch
import torchvision
from torch import nn

from relnotes.analysis import LR_OP, count_macs_with_local_relation, count_parameters
from relnotes.models.lrnet import lrnet26, lrnet50
from relnotes.models.resnet import ResNet, resnet26, resnet50
from relnotes.nn import LocalRelation2d
from relnotes.ops import local_relation_macs


def params_without_bn(model):
    return sum(p.numel() for m in model.modules() if not isinstance(m, nn.BatchNorm2d)
               for p in m.parameters(recurse=False))


def on_meta(builder, **kw):
    with torch.device("meta"):
        return builder(**kw)


IMAGE = torch.empty(1, 3, 224, 224, device="meta")


def test_resnet50_is_torchvision_resnet50():
    ours, theirs = resnet50(), torchvision.models.resnet50()
    assert count_parameters(ours) == count_parameters(theirs) == 25_557_032
    ours.load_state_dict(theirs.state_dict())          # same names, same shapes
    ours.eval(), theirs.eval()
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


# Exact counts of this reconstruction (BN affine parameters included / excluded), and MACs at
# 224 x 224 (ResNet-50: torchvision's published 4.089 GFLOPS).
COUNTS = {
    resnet26: (15_995_176, 15_964_328, 2_342_256_640),
    resnet50: (25_557_032, 25_503_912, 4_089_184_256),
    lrnet26: (14_621_492, 14_586_196, 2_380_062_100),
    lrnet50: (23_397_811, 23_336_067, 4_033_665_737),
}


@pytest.mark.parametrize("builder", list(COUNTS), ids=lambda b: b.__name__)
def test_parameters_and_macs(builder):
    model = on_meta(builder)
    params, params_no_bn, macs = COUNTS[builder]
    assert count_parameters(model) == params
    assert params_without_bn(model) == params_no_bn
    assert sum(count_macs_with_local_relation(model, IMAGE).values()) == macs


def test_paper_parameter_counts_within_01M_without_bn():
    assert abs(params_without_bn(on_meta(resnet50)) - 25.5e6) < 0.1e6
    assert abs(params_without_bn(on_meta(lrnet50)) - 23.3e6) < 0.1e6


def test_lrnet50_layout():
    model = on_meta(lrnet50)
    layers = [m for m in model.modules() if isinstance(m, LocalRelation2d)]
    assert len(layers) == 1 + 3 + 4 + 6 + 3
    assert [(l.channels, l.groups, l.stride) for l in layers[:2]] == [(64, 8, 2), (100, 13, 1)]
    assert [l.channels for l in layers[1:]] == [100] * 3 + [200] * 4 + [400] * 6 + [800] * 3
    assert [l.stride for l in layers[1:]] == [1] * 3 + [2, 1, 1, 1] + [2] + [1] * 5 + [2, 1, 1]
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1) for m in model.modules())


def test_local_relation_macs_are_the_closed_form_per_layer():
    model = on_meta(lrnet26)
    macs = count_macs_with_local_relation(model, IMAGE)
    # stem 112^2 (G = 8); stage s at 56/2^s with C = 100 * 2^s, G = ceil(C / 8), 2 layers each
    expected = local_relation_macs(1, 64, 8, 112, 112, 7) + sum(
        2 * local_relation_macs(1, 100 * 2**s, -(-100 * 2**s // 8), 56 >> s, 56 >> s, 7)
        for s in range(4))
    assert macs[LR_OP] == expected


def test_small_lrnet_trains_one_step_on_cpu():
    torch.manual_seed(0)
    model = lrnet26(num_classes=10, kernel_size=3)
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([1, 7])
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters())


def test_resnet_rejects_wrong_stage_count():
    with pytest.raises(ValueError, match="layers and widths must give the 4 stages"):
        ResNet((2, 2, 2), (64, 128, 256))
