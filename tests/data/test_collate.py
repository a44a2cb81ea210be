import torch

from relnotes.data import detection_collate


def test_detection_collate_keeps_images_unstacked():
    a, b = torch.zeros(3, 4, 5), torch.ones(3, 6, 2)
    images, targets = detection_collate([(a, {"id": 1}), (b, {"id": 2})])
    assert isinstance(images, list) and images[0] is a and images[1] is b
    assert targets == [{"id": 1}, {"id": 2}]
