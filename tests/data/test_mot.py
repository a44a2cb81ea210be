"""MOTChallenge files in and out, the synthetic crowd, the MOT17 folder reader."""

import numpy as np
import pytest

from relnotes.data.mot import (MOTFormatError, label_detections, read_mot, read_mot17_sequence,
                               read_sequence, synthetic_sequence, visible_fraction, write_mot,
                               write_sequence)


def write(tmp_path, text, name="gt.txt"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_valid_file(tmp_path):
    p = write(tmp_path, "1,1,10,20,30,40,1,1,0.5\n1, 2, 50, 20, 30, 40, 1, 1, 1\n2,1,12,20,30,40,1,1,1\n")
    rows = read_mot(p)
    assert rows.shape == (3, 9)
    assert rows[1].tolist() == [1, 2, 50, 20, 30, 40, 1, 1, 1]


@pytest.mark.parametrize("text, line, words", [
    ("1,1,10,20,30,40,1\n2,1,10,20\n", 2, "expected at least 7"),
    ("1,1,10,20,30,40,1\n2,1,10,abc,30,40,1\n", 2, "field 4 (bb_top) is not a number: 'abc'"),
    ("1,1,10,20,-30,40,1\n", 1, "bb_width and bb_height must be > 0"),
    ("1,1,10,20,30,0,1\n", 1, "bb_width and bb_height must be > 0"),
    ("2,1,10,20,30,40,1\n1,1,10,20,30,40,1\n", 2, "frame 1 comes after frame 2"),
    ("1,1,10,20,30,40,1\n1,1,15,20,30,40,1\n", 2, "id 1 appears twice in frame 1"),
    ("1.5,1,10,20,30,40,1\n", 1, "frame must be an integer >= 1"),
    ("0,1,10,20,30,40,1\n", 1, "frame must be an integer >= 1"),
    ("1,1,10,20,30,40,1\n\n2,1,10,20,30,40,1\n", 2, "empty line"),
    ("1,1,10,20,30,40,1\n2,1,10,20,30,40,1,5\n", 2, "8 fields, but the lines before have 7"),
    ("1,1,10,20,30,nan,1\n", 1, "not finite"),
])
def test_malformed_files_name_file_and_line(tmp_path, text, line, words):
    p = write(tmp_path, text)
    with pytest.raises(MOTFormatError) as e:
        read_mot(p)
    assert f"{p}, line {line}:" in str(e.value)
    assert words in str(e.value)


def test_detection_ids_may_repeat(tmp_path):
    p = write(tmp_path, "1,-1,10,20,30,40,0.9\n1,-1,15,20,30,40,0.8\n", "det.txt")
    assert read_mot(p, unique_ids=False).shape == (2, 7)


def test_write_read_roundtrip(tmp_path):
    rows = np.array([[1, 3, 10.25, 20.5, 30, 40, 0.9], [2, 3, 11.75, 20.5, 30, 40, 0.8]])
    back = read_mot(write_mot(tmp_path / "t.txt", rows))
    np.testing.assert_allclose(back, rows)


def test_synthetic_sequence_properties():
    s = synthetic_sequence(n_frames=60, n_groups=6, seed=3)
    assert s.gt.shape[1] == 9 and s.det.shape[1] == 7
    assert np.all(np.diff(s.det[:, 0]) >= 0) and np.all(np.diff(s.gt[:, 0]) >= 0)
    assert s.features.shape == (len(s.det), 16)
    np.testing.assert_allclose(np.linalg.norm(s.features, axis=1), 1.0)
    assert (s.det_ids == -1).any(), "false detections"
    # missed detections: fewer true detections than ground-truth boxes
    assert (s.det_ids >= 0).sum() < len(s.gt)
    assert (s.gt[:, 8] < 0.5).any(), "occlusions"
    # the same seed gives the same sequence
    t = synthetic_sequence(n_frames=60, n_groups=6, seed=3)
    np.testing.assert_array_equal(s.det, t.det)


def test_reentering_objects_keep_their_id():
    s = synthetic_sequence(n_frames=150, n_groups=6, p_reenter=1.0, speed=(6, 8), seed=1)
    gaps = 0
    for i in np.unique(s.gt[:, 1]):
        f = s.gt[s.gt[:, 1] == i, 0]
        gaps += int(np.any(np.diff(f) > 1))
    assert gaps > 0


def test_visible_fraction():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 10, 20]], dtype=float)   # box 1 is closer
    vis, occ = visible_fraction(boxes)
    assert vis[0] == pytest.approx(0.5) and occ[0] == 1
    assert vis[1] == 1.0 and occ[1] == -1


def test_sequence_folder_roundtrip_and_labels(tmp_path):
    s = synthetic_sequence(n_frames=30, seed=0)
    write_sequence(tmp_path / "seq", s)
    r = read_sequence(tmp_path / "seq")
    assert (r.width, r.height, r.n_frames) == (s.width, s.height, s.n_frames)
    np.testing.assert_allclose(r.det, s.det, atol=5e-3)
    np.testing.assert_allclose(r.features, s.features, atol=1e-5)
    # identities recovered by IoU agree with the generator's for most true detections
    assert (label_detections(s.det, s.gt) == s.det_ids).mean() > 0.9


def test_mot17_reader(tmp_path):
    from PIL import Image

    seq = tmp_path / "train" / "MOT17-02-DPM"
    (seq / "img1").mkdir(parents=True)
    for f in (1, 2):
        Image.new("RGB", (64, 48), (200, 10, 10)).save(seq / "img1" / f"{f:06d}.jpg")
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=MOT17-02-DPM\nimDir=img1\nframeRate=30\n"
                                     "seqLength=2\nimWidth=64\nimHeight=48\nimExt=.jpg\n")
    write(seq, "", "unused")
    (seq / "det").mkdir()
    (seq / "gt").mkdir()
    (seq / "det" / "det.txt").write_text("1,-1,1,1,10,20,0.9,-1,-1,-1\n2,-1,2,1,10,20,0.8,-1,-1,-1\n")
    # second gt row: class 2 (not a pedestrian), third: consider flag 0 -> both dropped
    (seq / "gt" / "gt.txt").write_text("1,1,1,1,10,20,1,1,1\n1,2,30,1,10,20,1,2,1\n"
                                       "2,1,2,1,10,20,1,1,1\n2,3,30,1,10,20,0,1,1\n")
    s = read_mot17_sequence(tmp_path)
    assert s.gt[:, 1].tolist() == [1, 1]
    assert s.det_ids.tolist() == [1, 1]
    assert s.features.shape == (2, 64)
    with pytest.raises(FileNotFoundError, match="train/MOT17-04-DPM"):
        read_mot17_sequence(tmp_path, "MOT17-04-DPM")
