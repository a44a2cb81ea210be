import torch

from relnotes.analysis import count_macs, count_parameters
from relnotes.models.relation_rcnn import ClassAgnosticBoxPredictor, RelationBoxHead
from relnotes.models.rn_backbones import ResNet101C4, resnet101_fpn


def head_params():
    head = RelationBoxHead(256 * 7 * 7, 1024, relations=(0, 0))
    return count_parameters(head) + count_parameters(
        ClassAgnosticBoxPredictor(1024, 81, background_column=True))


def test_table5_baseline_parameter_counts():
    # recounts of the official graphs (conv/fc weights + biases, frozen BN excluded):
    # ResNet-101 convs 42,394,816; C4 RPN 4,756,040; conv_new_1 524,544; 2fc + cls81 + bbox8
    # 13,986,905; FPN P2-P5 neck 3,344,384
    assert head_params() == 13_986_905
    with torch.device("meta"):
        c4, c4_no_rpn, fpn = ResNet101C4(), ResNet101C4(rpn=False), resnet101_fpn()
    assert count_parameters(c4) + head_params() == 61_662_305
    assert count_parameters(c4) - count_parameters(c4_no_rpn) == 4_756_040
    assert count_parameters(fpn) + head_params() == 59_726_105
    assert count_parameters(fpn.fpn) == 3_344_384


def test_c4_shapes_and_caffe_stride():
    with torch.device("meta"):
        c4 = ResNet101C4()
        feat, (scores, deltas) = c4(torch.zeros(1, 3, 600, 1000))
        torchvision_style = ResNet101C4(caffe_stride=False)
        x = torch.zeros(1, 3, 600, 1000)
    assert feat.shape == (1, 256, 38, 63) and scores.shape == (1, 24, 38, 63)
    assert deltas.shape == (1, 48, 38, 63)
    assert c4.conv4[5][0].conv1.stride == (2, 2) and c4.conv4[5][0].conv2.stride == (1, 1)
    # same parameters, fewer MACs with the stride on the first 1x1
    assert count_parameters(c4) == count_parameters(torchvision_style)
    assert count_macs(c4, x) < count_macs(torchvision_style, x)


def test_dcn_adds_offset_convs_and_offset_fc():
    from relnotes.models.rn_backbones import DeformableConv2dDCN, DeformableRoIPoolingOffsets

    with torch.device("meta"):
        c4, dcn = ResNet101C4(rpn=False), ResNet101C4(rpn=False, dcn=True)
        x = torch.zeros(1, 3, 600, 1000)
    # 3 offset convs 512 -> 72 (3x3, bias) and the deformable RoI pooling offset fc 12544 -> 98
    assert count_parameters(dcn) - count_parameters(c4) == 3 * (512 * 72 * 9 + 72) == 995_544
    assert count_parameters(DeformableRoIPoolingOffsets()) == 12544 * 98 + 98 == 1_229_410
    # the deformable convs cost what the convs cost (registered formula), plus the offset convs
    assert count_macs(dcn, x) - count_macs(c4, x) == 3 * 38 * 63 * 72 * 512 * 9
    # zero offsets at initialisation: the deformable conv is the conv it replaces
    conv = torch.nn.Conv2d(16, 8, 3, padding=2, dilation=2, bias=False)
    deformable = DeformableConv2dDCN(conv, offset_groups=4)
    inp = torch.randn(2, 16, 9, 11)
    torch.testing.assert_close(deformable(inp), conv(inp), rtol=1e-5, atol=1e-5)
    assert count_macs(deformable, inp) == count_macs(conv, inp) + count_macs(deformable.offset, inp)
