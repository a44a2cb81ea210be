"""The dataset checker on tiny folders written here: a good layout passes, each fault is named."""

import json
import subprocess
import sys

import pytest

from relnotes.data.check import check, check_coco, check_planetoid, main


def write_coco(root, split="val2017", n=3, **changes):
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(parents=True, exist_ok=True)
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": 8, "height": 8} for i in range(n)]
    for im in images:
        (root / split / im["file_name"]).write_bytes(b"\xff\xd8jpeg")
    data = {"images": images, "categories": [{"id": 1, "name": "a"}, {"id": 3, "name": "b"}],
            "annotations": [{"id": 10 + i, "image_id": i, "category_id": 1, "bbox": [0, 0, 2, 3]}
                            for i in range(n)]}
    data.update(changes)
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    return root


def test_a_good_coco_folder_has_no_error_and_counts_its_images(tmp_path):
    write_coco(tmp_path, "train2017")
    write_coco(tmp_path, "val2017")
    report = check("coco", tmp_path)
    assert report.errors == []
    assert report.counts["val2017 images listed"] == 3
    assert report.counts["val2017 image files"] == 3
    assert report.counts["train2017 annotations"] == 3
    # a subset of COCO is a warning, with the full count named
    assert any("val2017 lists 3 images; COCO 2017 has 5,000" in w for w in report.warnings)


def test_coco_faults_are_each_named(tmp_path):
    write_coco(tmp_path, "val2017", n=3, annotations=[
        {"id": 1, "image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1]},
        {"id": 2, "image_id": 0, "category_id": 7, "bbox": [0, 0, 1, 1]},
        {"id": 3, "image_id": 1, "category_id": 3, "bbox": [0, 0, -1, 1]},
    ])
    (tmp_path / "val2017" / "000000000001.jpg").unlink()
    (tmp_path / "val2017" / "000000000002.jpg").write_bytes(b"")
    (tmp_path / "val2017" / "stray.jpg").write_bytes(b"x")
    report = check_coco(tmp_path, ("val2017", "train2017"))
    assert report.errors == [
        "coco: instances_val2017.json: annotation 1 names unknown image_id 99",
        "coco: instances_val2017.json: annotation 2 names unknown category_id 7",
        "coco: instances_val2017.json: annotation 3 has bbox [0, 0, -1, 1]; expected "
        "[x, y, w, h] with w, h >= 0",
        "coco: 1 image(s) listed in instances_val2017.json are missing from val2017/: "
        "000000000001.jpg",
        "coco: 1 image file(s) in val2017/ are empty: 000000000002.jpg",
        "coco: missing annotation file annotations/instances_train2017.json",
        "coco: missing image folder train2017/",
    ]
    assert "coco: 1 image file(s) in val2017/ are in no annotation: stray.jpg" in report.warnings


def test_coco_annotation_file_that_does_not_parse(tmp_path):
    write_coco(tmp_path, "val2017")
    (tmp_path / "annotations" / "instances_val2017.json").write_text("{not json")
    [error] = check_coco(tmp_path, ("val2017",)).errors
    assert error.startswith("coco: annotations/instances_val2017.json does not parse")
    (tmp_path / "annotations" / "instances_val2017.json").write_text('{"images": []}')
    [error] = check_coco(tmp_path, ("val2017",)).errors
    assert error == ("coco: annotations/instances_val2017.json has no list annotations, "
                     "categories")


def write_imagenet(root, classes=("n01", "n02"), per_class=2):
    for split in ("train", "val"):
        for wnid in classes:
            (root / split / wnid).mkdir(parents=True)
            for i in range(per_class):
                (root / split / wnid / f"{wnid}_{i}.JPEG").write_bytes(b"jpeg")
    return root


def test_imagenet_good_and_faulty(tmp_path):
    good = write_imagenet(tmp_path / "good")
    report = check("imagenet", good)
    assert report.errors == []
    assert report.counts == {"train classes": 2, "train images": 4, "val classes": 2,
                             "val images": 4}
    assert "imagenet: 2 classes; ImageNet-1k has 1,000" in report.warnings
    bad = write_imagenet(tmp_path / "bad")
    (bad / "val" / "n03").mkdir()
    (bad / "val" / "loose.JPEG").write_bytes(b"x")
    (bad / "train" / "n01" / "n01_0.JPEG").write_bytes(b"")
    assert check("imagenet", bad).errors == [
        "imagenet: 1 empty image file(s) in train/: n01/n01_0.JPEG",
        "imagenet: 1 image(s) directly in val/, outside class folders: loose.JPEG (sort val "
        "into <wnid>/ folders, as torchvision's ImageFolder reads it)",
        "imagenet: 1 class folder(s) in val/ have no image: n03",
        "imagenet: 1 class(es) in val/ but not in train/: n03",
    ]


SEQINFO = """[Sequence]
name={name}
imDir=img1
frameRate=30
seqLength={n}
imWidth=64
imHeight=48
imExt=.jpg
"""


def write_mot(root, n=3):
    for split in ("train", "test"):
        seq = root / split / "MOT17-02-FRCNN"
        (seq / "img1").mkdir(parents=True)
        (seq / "det").mkdir()
        (seq / "seqinfo.ini").write_text(SEQINFO.format(name=seq.name, n=n))
        for i in range(1, n + 1):
            (seq / "img1" / f"{i:06d}.jpg").write_bytes(b"jpeg")
        (seq / "det" / "det.txt").write_text("1,-1,10,10,5,5,0.9,-1,-1,-1\n")
        if split == "train":
            (seq / "gt").mkdir()
            (seq / "gt" / "gt.txt").write_text("1,1,10,10,5,5,1,1,1.0\n3,1,11,10,5,5,1,1,0.8\n")
    return root


def test_mot17_good_and_faulty(tmp_path):
    good = write_mot(tmp_path / "good")
    report = check("mot17", good)
    assert report.errors == []
    assert report.counts == {"train sequences": 1, "train frames": 3, "test sequences": 1,
                             "test frames": 3}
    assert "mot17: train/ has 1 sequence folders; MOT17 has 21" in report.warnings
    bad = write_mot(tmp_path / "bad")
    (bad / "train" / "MOT17-02-FRCNN" / "img1" / "000002.jpg").unlink()
    (bad / "train" / "MOT17-02-FRCNN" / "gt" / "gt.txt").write_text("1,1,10\n9,1,1,1,1,1,1,1,1\n")
    (bad / "test" / "MOT17-02-FRCNN" / "seqinfo.ini").write_text("[Sequence]\nname=x\n")
    assert check("mot17", bad).errors == [
        "mot17: train/MOT17-02-FRCNN: 1 of 3 frames missing from img1/: 000002.jpg",
        "mot17: train/MOT17-02-FRCNN/gt.txt line 1 has 3 columns; expected at least 9",
        "mot17: train/MOT17-02-FRCNN/gt.txt line 2: frame 9 outside 1..3",
        "mot17: test/MOT17-02-FRCNN/seqinfo.ini does not parse (needs [Sequence] with "
        "seqLength): KeyError('seqLength')",
    ]


def test_imagenet_missing_split_and_classes_of_train_only(tmp_path):
    only_train = write_imagenet(tmp_path / "a")
    (only_train / "train" / "n09").mkdir()
    (only_train / "train" / "n09" / "n09_0.JPEG").write_bytes(b"jpeg")
    assert check("imagenet", only_train).errors == [
        "imagenet: 1 class(es) in train/ but not in val/: n09"]
    no_val = write_imagenet(tmp_path / "b")
    for f in (no_val / "val").rglob("*.JPEG"):
        f.unlink()
    for d in sorted((no_val / "val").iterdir()):
        d.rmdir()
    (no_val / "val").rmdir()
    assert check("imagenet", no_val).errors == [
        "imagenet: missing folder val/ (expected val/<wnid>/*.JPEG)"]


def test_mot17_every_other_fault_is_named(tmp_path):
    bad = write_mot(tmp_path)
    train, test = bad / "train" / "MOT17-02-FRCNN", bad / "test" / "MOT17-02-FRCNN"
    (train / "img1" / "000003.jpg").write_bytes(b"")
    (train / "det" / "det.txt").write_text("1,-1,10,10,5,5,0.9\n2,-1,10,10,-5,5,0.9\nx,y\n")
    (train / "gt" / "gt.txt").unlink()
    for f in (test / "img1").iterdir():
        f.unlink()
    (test / "img1").rmdir()
    other = bad / "test" / "MOT17-04-FRCNN"
    other.mkdir()
    assert check("mot17", bad).errors == [
        "mot17: train/MOT17-02-FRCNN: 1 empty frame file(s): 000003.jpg",
        "mot17: train/MOT17-02-FRCNN/det.txt line 2: negative box width or height",
        "mot17: train/MOT17-02-FRCNN/det.txt line 3 is not comma-separated numbers: 'x,y'",
        "mot17: train/MOT17-02-FRCNN: missing gt/gt.txt",
        "mot17: test/MOT17-02-FRCNN: missing image folder img1/",
        "mot17: test/MOT17-04-FRCNN: missing seqinfo.ini",
    ]
    (bad / "train").rename(bad / "elsewhere")
    assert ("mot17: missing folder train/ (expected train/MOT17-XX-<detector>/)"
            in check("mot17", bad).errors)


def test_planetoid_names_each_missing_file(tmp_path):
    for key in ("x", "y", "tx", "ty", "allx", "ally", "graph"):
        (tmp_path / f"ind.cora.{key}").write_bytes(b"pickle")
    (tmp_path / "ind.cora.test.index").write_text("5\n6\n")
    report = check("planetoid", tmp_path)
    assert report.counts == {"cora test nodes": 2}
    assert report.errors[0] == "planetoid: missing ind.citeseer.x"
    assert len(report.errors) == 16  # all eight files of citeseer and of pubmed


def test_planetoid_empty_file_and_test_index_that_is_not_integers(tmp_path):
    for key in ("x", "y", "tx", "ty", "allx", "ally", "graph"):
        (tmp_path / f"ind.cora.{key}").write_bytes(b"pickle")
    (tmp_path / "ind.cora.graph").write_bytes(b"")
    (tmp_path / "ind.cora.test.index").write_text("5\nsix\n")
    assert check_planetoid(tmp_path, names=("cora",)).errors == [
        "planetoid: ind.cora.graph is empty",
        "planetoid: ind.cora.test.index is not a list of integers",
    ]


def test_not_a_folder_and_unknown_kind(tmp_path):
    assert check("coco", tmp_path / "nope").errors == [f"coco: {tmp_path / 'nope'} is not a folder"]
    with pytest.raises(ValueError, match="unknown dataset kind 'voc'; choose one of coco, "):
        check("voc", tmp_path)


def test_command_line_exit_status_and_output(tmp_path, capsys):
    write_coco(tmp_path, "val2017")
    assert main(["coco", str(tmp_path), "--splits", "val2017"]) == 0
    out = capsys.readouterr().out
    assert "val2017 images listed: 3" in out and out.rstrip().endswith("ok")
    assert main(["coco", str(tmp_path)]) == 1  # train2017 is missing
    assert "missing image folder train2017/" in capsys.readouterr().out
    # the module runs as python -m relnotes.data.check
    done = subprocess.run([sys.executable, "-m", "relnotes.data.check", "imagenet",
                           str(tmp_path / "none")], capture_output=True, text=True)
    assert done.returncode == 1 and "is not a folder" in done.stdout
