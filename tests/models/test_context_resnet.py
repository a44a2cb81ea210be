import pytest
import torch
import torchvision

from relnotes.analysis import count_macs_by_op, count_parameters
from relnotes.models.context_resnet import (
    MaskRCNNDummyForward, insert_after_bn3, insert_before_last_block, maskrcnn_r50_fpn,
)
from relnotes.nn import (
    ContextBlock, GlobalContextBlock, NonLocal2d, SimplifiedNonLocal2d, SqueezeExcitation,
)

# The talk's COCO table, recounted (reference note global-context.md §2.1)
VARIANTS = {
    "baseline": (None, None, 44_400_693),
    "nl": ("before_last", lambda c: NonLocal2d(c, sub_sample=True), 46_500_405),
    "se": ("after_bn3", lambda c: SqueezeExcitation(c, rd_ratio=1 / 16), 46_906_293),
    "se_gc_framework": ("after_bn3", lambda c: ContextBlock(c, pooling="avg", fusion=("mul",)),
                        46_908_085),
    "gc": ("after_bn3", lambda c: GlobalContextBlock(c, rd_ratio=1 / 16), 46_922_434),
    "gc_r4": ("after_bn3", lambda c: GlobalContextBlock(c, rd_ratio=1 / 4), 54_401_602),
    "snl": ("before_last", lambda c: SimplifiedNonLocal2d(c), 45_451_318),
}


def _build(name):
    where, make, _ = VARIANTS[name]
    model = maskrcnn_r50_fpn(device="meta")
    if where == "after_bn3":
        insert_after_bn3(model.backbone.body, make)
    elif where == "before_last":
        insert_before_last_block(model.backbone.body, make)
    return model


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_maskrcnn_parameter_counts_are_the_recounted_table(name):
    assert count_parameters(_build(name)) == VARIANTS[name][2]


def test_positions_in_the_backbone():
    model = maskrcnn_r50_fpn(device="meta")
    body = model.backbone.body
    blocks = insert_after_bn3(body, lambda c: GlobalContextBlock(c))
    assert [b.channels for b in blocks] == [512] * 4 + [1024] * 6 + [2048] * 3
    assert body.layer3[0].bn3[1] is blocks[4] and isinstance(body.layer3[0].bn3[0], torch.nn.BatchNorm2d)
    assert not isinstance(body.layer1[0].bn3, torch.nn.Sequential)
    assert all(p.device.type == "meta" for p in model.parameters())
    nl = insert_before_last_block(body, lambda c: NonLocal2d(c))
    assert len(body.layer3) == 7 and body.layer3[5] is nl and nl.channels == 1024


def test_resnet50_insertion_keeps_the_forward_at_init():
    torch.manual_seed(0)
    net = torchvision.models.resnet50(num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = net(x)
        insert_after_bn3(net, lambda c: GlobalContextBlock(c))        # zero-init: identity
        insert_before_last_block(net, lambda c: NonLocal2d(c, zero_init_last=True))
        after = net(x)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert count_parameters(net) == 23_528_522 + 2_521_741 + 2_099_712


def test_insertion_errors():
    with pytest.raises(ValueError, match="needs Bottleneck blocks"):
        insert_after_bn3(torchvision.models.resnet18(), lambda c: GlobalContextBlock(c))
    with pytest.raises(ValueError, match="resnet has no stage 'layer5'"):
        insert_after_bn3(torchvision.models.resnet50(), lambda c: c, stages=("layer5",))


def test_dummy_forward_macs_at_1280x800():
    """MACs (FlopCounterMode, conv + linear + matmul) of mmdetection's forward_dummy protocol."""
    base = count_macs_by_op(MaskRCNNDummyForward(_build("baseline")))
    assert sum(base.values()) == 259_340_375_040
    nl = count_macs_by_op(MaskRCNNDummyForward(_build("nl")))
    # θ at 50x80, φ and g on the 2x2-pooled 25x40, W_z; two bmm of 4000 x 1000 x 512
    assert sum(nl.values()) - sum(base.values()) == (
        1024 * 512 * 4000 + 2 * 1024 * 512 * 1000 + 512 * 1024 * 4000 + 2 * 4000 * 1000 * 512)
    assert nl["aten.bmm"] == 4_096_000_000
    gc = count_macs_by_op(MaskRCNNDummyForward(_build("gc")))
    assert gc["aten.bmm"] == sum(c * hw * n for c, hw, n in
                                 [(512, 100 * 160, 4), (1024, 50 * 80, 6), (2048, 25 * 40, 3)])


def test_frozen_batchnorm_would_remove_53120_parameters():
    """The book's explanation of the pretrained count: ResNet-50's BN affine parameters."""
    net = torchvision.models.resnet50()
    bn = sum(m.weight.numel() + m.bias.numel() for m in net.modules()
             if isinstance(m, torch.nn.BatchNorm2d))
    assert bn == 53_120
    frozen = maskrcnn_r50_fpn(device="meta")
    frozen.backbone.body = torchvision.models._utils.IntermediateLayerGetter(
        torchvision.models.resnet50(norm_layer=torchvision.ops.FrozenBatchNorm2d).to("meta"),
        {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"})
    assert count_parameters(frozen) == 44_400_693 - 53_120


class _FakeWeights:
    """Stands in for a torchvision WeightsEnum (no download in CI): a seeded ResNet-50."""

    def get_state_dict(self, progress=True):
        torch.manual_seed(1)
        return torchvision.models.resnet50().state_dict()


def test_backbone_weights_load_before_insertion_keep_bn_trainable_and_freeze_stage_1():
    model = maskrcnn_r50_fpn(backbone_weights=_FakeWeights())
    body, ref = model.backbone.body, _FakeWeights().get_state_dict()
    torch.testing.assert_close(body.layer3[2].conv2.weight, ref["layer3.2.conv2.weight"])
    assert isinstance(body.bn1, torch.nn.BatchNorm2d) and body.layer2[0].bn3.weight.requires_grad
    assert not body.conv1.weight.requires_grad and not body.layer1[0].conv1.weight.requires_grad
    assert body.layer2[0].conv1.weight.requires_grad
    assert count_parameters(model) == 44_400_693
    assert count_parameters(model, trainable_only=True) == 44_400_693 - sum(
        p.numel() for m in (body.conv1, body.bn1, body.layer1) for p in m.parameters())
    with pytest.raises(ValueError, match="frozen_stages must be in 0..4"):
        maskrcnn_r50_fpn(backbone_weights=_FakeWeights(), frozen_stages=5, device="meta")
