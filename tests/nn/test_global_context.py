import torch

from relnotes.nn import ContextBlock, GlobalContextBlock


def _randomize(module):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module


def test_gc_block_is_identity_at_init_and_its_attention_is_query_independent():
    x = torch.randn(2, 64, 6, 6)
    gc = GlobalContextBlock(64)
    z, w = gc(x, return_weights=True)
    torch.testing.assert_close(z, x, rtol=0, atol=0)
    assert w.shape == (2, 36)
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    assert not torch.allclose(GlobalContextBlock(64, zero_init_last=False)(x), x)


def test_gc_block_is_the_framework_with_a_bottleneck():
    torch.manual_seed(0)
    gc = _randomize(GlobalContextBlock(32, pooling="avg", fusion=("mul",), layer_norm=False))
    fw = ContextBlock(32, pooling="avg", fusion=("mul",), layer_norm=False)
    fw.load_state_dict(gc.state_dict())
    x = torch.randn(2, 32, 4, 4)
    torch.testing.assert_close(fw(x), gc(x), rtol=0, atol=0)


def test_parameter_counts_at_the_resnet50_widths():
    # (C+1) + (C·P+P) + 2P + (P·C+C), reference note §1.1: r16 at C = 512, 1024, 2048
    counts = [sum(p.numel() for p in GlobalContextBlock(c).parameters()) for c in (512, 1024, 2048)]
    assert counts == [33_889, 133_313, 528_769]
    assert sum(p.numel() for p in GlobalContextBlock(512, layer_norm=False).parameters()) == 33_889 - 64
