"""The tiny detector with a choice of region-feature extractor."""

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign

from relnotes.models.region_rcnn import SingleLevelPool, region_faster_rcnn
from relnotes.nn import LearnedRegionFeatures


@pytest.mark.parametrize("extractor", ["roi_pool", "roi_align", "learned"])
def test_each_extractor_trains_and_predicts(extractor):
    torch.manual_seed(0)
    model = region_faster_rcnn(extractor, proposals=8, box_batch_size_per_image=8)
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    targets = [dict(boxes=torch.tensor([[4.0, 4.0, 30.0, 30.0]]), labels=torch.tensor([1])),
               dict(boxes=torch.tensor([[10.0, 20.0, 60.0, 50.0]]), labels=torch.tensor([2]))]
    model.train()
    losses = model(images, targets)
    sum(losses.values()).backward()
    if extractor == "learned":
        pool = model.roi_heads.box_roi_pool.pool
        assert isinstance(pool, LearnedRegionFeatures)
        assert pool.box_proj.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2


def test_roi_align_is_the_tiny_detector_unchanged():
    assert isinstance(region_faster_rcnn("roi_align").roi_heads.box_roi_pool, MultiScaleRoIAlign)


def test_no_proposals_give_an_empty_feature():
    pool = SingleLevelPool(LearnedRegionFeatures(4, spatial_scale=0.25))
    out = pool({"0": torch.zeros(1, 4, 16, 16)}, [torch.zeros(0, 4)], [(64, 64)])
    assert out.shape == (0, 4, 7, 7)


def test_errors():
    with pytest.raises(ValueError, match="extractor must be one of"):
        region_faster_rcnn("roi_warp")
    with pytest.raises(ValueError, match="only applies"):
        region_faster_rcnn("roi_pool", learned=dict(support="roi"))
