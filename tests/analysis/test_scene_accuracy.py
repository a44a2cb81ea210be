import pytest

from relnotes.analysis.scene_accuracy import scene_accuracy
from relnotes.data.context_masks import make_context_masks


@pytest.fixture(scope="module")
def data():
    return make_context_masks(40, seed=3)


def test_scene_accuracy(data):
    anns = data.coco["annotations"]
    exact = [dict(a, score=1.0) for a in anns]
    assert scene_accuracy(data, exact) == pytest.approx(1.0)
    flipped = [dict(a, category_id=(a["category_id"] + 2) % 6 + 1, score=1.0) for a in anns]
    assert scene_accuracy(data, flipped) == pytest.approx(0.0)
    # both scenes, the right one scored higher for the first half of the objects only
    both = []
    for k, a in enumerate(anns):
        wrong = (a["category_id"] + 2) % 6 + 1
        both += [dict(a, score=0.9 if k < len(anns) // 2 else 0.1),
                 dict(a, category_id=wrong, score=0.5)]
    assert scene_accuracy(data, both) == pytest.approx((len(anns) // 2) / len(anns))
    shifted = [dict(a, bbox=[a["bbox"][0] + 40, *a["bbox"][1:]], score=1.0) for a in anns]
    assert scene_accuracy(data, shifted) == 0.0                  # nothing found
