import pytest
import torch

from relnotes.analysis import count_parameters
from relnotes.models.context_classifier import BasicBlock, ContextClassifier
from relnotes.nn import GlobalContextBlock, NonLocal2d, SqueezeExcitation


def test_shapes_and_plain_parameter_count():
    model = ContextClassifier(4, in_channels=3, widths=(8, 16, 32))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    # stem 3*8*9 + BN 16; stage 1: 2 convs 8*8*9 + 2 BN; stage 2: 8*16*9 + 16*16*9 + 2 BN +
    # shortcut 8*16 + BN; stage 3 likewise 16 -> 32; fc 32*4 + 4
    expected = (216 + 16) + (2 * 576 + 32) + (1152 + 2304 + 64 + 128 + 32) \
        + (4608 + 9216 + 128 + 512 + 64) + (128 + 4)
    assert count_parameters(model) == expected


def test_context_blocks_go_in_every_residual_block_of_the_chosen_stages():
    made = []

    def make(c):
        made.append(c)
        return GlobalContextBlock(c, rd_ratio=1 / 4)

    model = ContextClassifier(4, widths=(8, 16, 32), depths=(1, 2, 2), context_block=make,
                              context_stages=(2, 3))
    assert made == [16, 16, 32, 32]
    assert len(model.context_blocks) == 4
    has_context = [b.context is not None for s in model.stages for b in s]
    assert has_context == [False, True, True, True, True]
    assert model.stage_block is None


def test_the_context_block_acts_on_the_residual_branch_before_the_add():
    torch.manual_seed(0)
    block = BasicBlock(4, 4, context=SqueezeExcitation(4, rd_channels=2)).eval()
    x = torch.randn(1, 4, 6, 6)
    r = block.bn2(block.conv2(block.bn1(block.conv1(x)).relu()))
    assert torch.allclose(block(x), (block.context(r) + x).relu())


def test_a_zero_initialised_block_leaves_the_network_unchanged():
    torch.manual_seed(0)
    plain = ContextClassifier(3, widths=(4, 8, 8)).eval()
    torch.manual_seed(0)
    with_gc = ContextClassifier(3, widths=(4, 8, 8),
                                context_block=lambda c: GlobalContextBlock(c, rd_channels=2)).eval()
    with_gc.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(plain(x), with_gc(x))


def test_stage_block_runs_once_between_stages():
    calls = []
    model = ContextClassifier(2, in_channels=1, widths=(4, 8, 16),
                              stage_block=lambda c: NonLocal2d(c, zero_init_last=True),
                              stage_block_after=2)
    model.stage_block.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    model(torch.randn(2, 1, 16, 16))
    assert calls == [(2, 8, 8, 8)]


@pytest.mark.parametrize("kwargs, match", [
    (dict(widths=(8, 16)), "widths and depths"),
    (dict(depths=(1, 0, 1)), "widths and depths"),
    (dict(context_stages=(0, 2)), "context_stages"),
    (dict(stage_block_after=4), "stage_block_after"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContextClassifier(4, **kwargs)


def test_a_one_channel_layer_norm_bottleneck_carries_no_information():
    """Why GC with r = 1/16 fails on 16 channels in the ablation notebook: the bottleneck has
    int(16 / 16) = 1 channel, and a LayerNorm over one value returns its bias for every input."""
    torch.manual_seed(0)
    block = GlobalContextBlock(16, rd_ratio=1 / 16)
    assert block.rd_channels == 1
    with torch.no_grad():
        block.transform_add[-1].weight.normal_()                  # undo the zero init
    contexts = torch.randn(5, 16, 1, 1)
    out = block.transform_add(contexts)
    assert torch.allclose(out, out[:1].expand_as(out))
