import pytest
import torch
from torch import nn

from relnotes.analysis import count_parameters
from relnotes.data.context_masks import make_context_masks
from relnotes.data.collate import detection_collate
from relnotes.models.context_resnet import insert_after_bn3, insert_before_last_block
from relnotes.models.tiny_mask_rcnn import TinyResNet, tiny_mask_rcnn
from relnotes.engine.detection import detector_loss
from relnotes.nn import GlobalContextBlock, NonLocal2d, SqueezeExcitation


@pytest.fixture(scope="module")
def data():
    return make_context_masks(4, seed=0)


def test_tiny_resnet_has_resnet50_stage_layout():
    body = TinyResNet()
    x = torch.zeros(2, 3, 64, 64)
    x = body.relu(body.bn1(body.conv1(x)))
    sizes = []
    for name in ("layer1", "layer2", "layer3", "layer4"):
        x = getattr(body, name)(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(32, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4)]
    assert [len(getattr(body, f"layer{i}")) for i in range(1, 5)] == [1, 1, 2, 1]
    assert body.out_channels == [32, 64, 128, 256]


def test_blocks_go_where_the_talks_table_puts_them():
    body = TinyResNet(layers=(1, 2, 3, 2))
    gc = insert_after_bn3(body, lambda c: GlobalContextBlock(c))          # c3-c5, every block
    assert [b.channels for b in gc] == [64, 64, 128, 128, 128, 256, 256]
    assert not isinstance(body.layer1[0].bn3, nn.Sequential)
    assert body.layer4[1].bn3[1] is gc[-1]
    body = TinyResNet(layers=(1, 2, 3, 2))
    nl = insert_before_last_block(body, lambda c: NonLocal2d(c, zero_init_last=True))
    assert len(body.layer3) == 4 and body.layer3[2] is nl and nl.channels == 128


@pytest.mark.parametrize("insert, make", [
    (insert_after_bn3, lambda c: GlobalContextBlock(c)),
    (insert_before_last_block, lambda c: NonLocal2d(c, sub_sample=True, zero_init_last=True)),
])
def test_identity_blocks_leave_the_detections_unchanged(data, insert, make):
    images = [data.torch_dataset()[i][0] for i in range(2)]
    torch.manual_seed(0)
    model = tiny_mask_rcnn().eval()
    with torch.no_grad():
        before = model(images)
        insert(model.backbone.body, make)
        after = model(images)
    for b, a in zip(before, after):
        for key in ("boxes", "scores", "labels", "masks"):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_training_step_has_the_mask_loss_and_parameters_add_up(data):
    torch.manual_seed(0)
    model = tiny_mask_rcnn()
    losses = model(*detection_collate([data.torch_dataset()[i] for i in range(2)]))
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
                           "loss_rpn_box_reg"}
    base = count_parameters(model)
    body = TinyResNet()
    blocks = insert_after_bn3(body, lambda c: SqueezeExcitation(c, rd_ratio=1 / 16))
    assert count_parameters(tiny_mask_rcnn(body=body)) == base + sum(map(count_parameters, blocks))
    # SE r16 on 64, 128, 128, 256 channels: fc1 C -> C/16 and fc2 back, with biases
    assert sum(map(count_parameters, blocks)) == sum(2 * c * (c // 16) + c // 16 + c
                                                     for c in (64, 128, 128, 256))


def test_bad_arguments():
    with pytest.raises(ValueError, match="planes and layers must be 4 positive ints"):
        TinyResNet(layers=(1, 1, 1))
    with pytest.raises(ValueError, match="one size per FPN level"):
        tiny_mask_rcnn(anchor_sizes=(8, 16))


def test_detector_loss_trains(data):
    torch.manual_seed(0)
    model = tiny_mask_rcnn()
    batch = detection_collate([data.torch_dataset()[i] for i in range(4)])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    first = None
    for _ in range(5):
        loss = detector_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first


def test_without_masks_it_is_the_same_detector_less_the_mask_branch(data):
    from torchvision.models.detection import FasterRCNN

    from relnotes.analysis import count_macs
    from relnotes.models import MaskRCNNDummyForward

    torch.manual_seed(0)
    with_masks = tiny_mask_rcnn()
    torch.manual_seed(0)
    boxes_only = tiny_mask_rcnn(masks=False)
    assert type(boxes_only) is FasterRCNN and not boxes_only.roi_heads.has_mask()
    mask_branch = sum(map(count_parameters, (with_masks.roi_heads.mask_head,
                                             with_masks.roi_heads.mask_predictor)))
    assert count_parameters(boxes_only) == count_parameters(with_masks) - mask_branch > 0
    losses = boxes_only(*detection_collate([data.torch_dataset()[i] for i in range(2)]))
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    # the MAC count of the dummy forward stops after the box head: less by the mask head's MACs
    # on 16 RoIs: two 3x3 convs 64 -> 64 at 14 x 14, the 2x2 transposed conv, a 1x1 to 7 at 28 x 28
    full = count_macs(MaskRCNNDummyForward(with_masks, (64, 64), 64, 16))
    box = count_macs(MaskRCNNDummyForward(boxes_only, (64, 64), 64, 16))
    mask_head = 16 * (14 * 14 * (64 * 64 * 9) * 2 + 14 * 14 * 64 * 64 * 4 + 28 * 28 * 64 * 7)
    assert full - box == mask_head


def test_roi_context_adds_the_images_mean_coarsest_level_to_every_roi():
    from torchvision.ops import MultiScaleRoIAlign

    from relnotes.models.tiny_mask_rcnn import RoIAlignWithContext

    torch.manual_seed(0)
    pool = RoIAlignWithContext(MultiScaleRoIAlign(["0", "1"], 7, 2), channels=3, level="1")
    features = {"0": torch.randn(2, 3, 16, 16), "1": torch.randn(2, 3, 8, 8)}
    boxes = [torch.tensor([[1.0, 2.0, 20.0, 30.0]]), torch.tensor([[0.0, 0.0, 9.0, 9.0],
                                                                   [30.0, 30.0, 60.0, 62.0]])]
    sizes = [(64, 64), (64, 64)]
    plain = pool.roi_align(features, boxes, sizes)
    torch.testing.assert_close(pool(features, boxes, sizes), plain)      # W_c starts at zero
    with torch.no_grad():
        pool.transform.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
        pool.transform.bias.fill_(0.5)
    mean = features["1"].mean((2, 3)) + 0.5                                # W_c = I, bias 0.5
    expected = plain + mean[[0, 1, 1], :, None, None]                     # box k -> its image
    torch.testing.assert_close(pool(features, boxes, sizes), expected)
    assert pool.output_size == plain.shape[-2:] == (7, 7)


def test_roi_context_detector_starts_as_the_plain_one_and_counts_its_transform(data):
    images = [data.torch_dataset()[i][0] for i in range(2)]
    torch.manual_seed(0)
    plain = tiny_mask_rcnn(masks=False).eval()
    torch.manual_seed(0)
    with_context = tiny_mask_rcnn(masks=False, roi_context=True).eval()
    assert count_parameters(with_context) == count_parameters(plain) + 64 * 64 + 64
    with torch.no_grad():
        for a, b in zip(with_context(images), plain(images)):
            torch.testing.assert_close(a["boxes"], b["boxes"], rtol=0, atol=0)
            torch.testing.assert_close(a["scores"], b["scores"], rtol=0, atol=0)
    losses = with_context.train()(*detection_collate([data.torch_dataset()[i] for i in range(2)]))
    sum(losses.values()).backward()
    assert with_context.roi_heads.box_roi_pool.transform.weight.grad.abs().sum() > 0
