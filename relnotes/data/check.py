r"""Check a real dataset before a ``full`` run: ``python -m relnotes.data.check KIND PATH``.

A ``full`` training reads real data under ``data_root`` and finds a missing file hours in. This
checker walks the folder first and names every problem: a missing folder or annotation file, an
annotation file that does not parse, an annotation pointing at an image that is not there, an
image no annotation mentions, a sequence whose frames have gaps. It reads the annotation files
and lists the images; it does not decode the images (a file of zero bytes is reported).

=============  =============================================================================
``coco``       ``annotations/instances_<split>.json`` and ``<split>/<file_name>`` for the splits
               (default ``train2017`` and ``val2017``); COCO 2017 has 118,287 and 5,000 images.
``imagenet``   ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` (torchvision's ``ImageFolder``
               layout, val sorted into class folders); 1,000 classes, 1,281,167 and 50,000 images.
``mot17``      ``train/<seq>/{seqinfo.ini, img1/, gt/gt.txt, det/det.txt}`` and ``test/<seq>/``
               without ``gt``; 21 train and 21 test folders (7 sequences x 3 detectors).
``planetoid``  ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}`` for cora, citeseer, pubmed.
=============  =============================================================================

A count that differs from the full dataset is a *warning* (a subset is legitimate for a short
run: say so with the profile's ``max_train`` / ``max_test`` overrides); everything else is an
*error*. Exit status: 0 no error, 1 errors, 2 a usage error.

Examples:
    >>> import tempfile, pathlib
    >>> report = check("imagenet", tempfile.mkdtemp())
    >>> report.errors[0]
    'imagenet: missing folder train/ (expected train/<wnid>/*.JPEG)'
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KINDS", "Report", "check", "check_coco", "check_imagenet", "check_mot17",
           "check_planetoid", "main"]

#: The full datasets' sizes: a different count is a warning, not an error.
COCO_IMAGES = {"train2017": 118_287, "val2017": 5_000}
IMAGENET_IMAGES = {"train": 1_281_167, "val": 50_000}
IMAGENET_CLASSES = 1_000
MOT17_SEQUENCES = {"train": 21, "test": 21}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class Report:
    """What :func:`check` found: errors (the run would fail), warnings, and counts."""

    kind: str
    path: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, message: str) -> None:
        self.errors.append(f"{self.kind}: {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.kind}: {message}")

    def format(self, max_lines: int = 50) -> str:
        """The report as text; each list cut after ``max_lines`` lines with the number left."""
        lines = [f"{self.kind} at {self.path}"]
        lines += [f"  {name}: {n:,}" for name, n in self.counts.items()]
        for title, items in (("error", self.errors), ("warning", self.warnings)):
            lines += [f"{title}: {m}" for m in items[:max_lines]]
            if len(items) > max_lines:
                lines.append(f"... and {len(items) - max_lines} more {title}s")
        lines.append("ok" if self.ok else f"{len(self.errors)} error(s)")
        return "\n".join(lines)


def _images_in(folder: Path) -> dict[str, int]:
    """{file name: size in bytes} of the image files directly in ``folder``."""
    with os.scandir(folder) as entries:
        return {e.name: e.stat().st_size for e in entries
                if e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES}


def _named(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_coco(path: str | os.PathLike, splits: tuple[str, ...] = ("train2017", "val2017")
               ) -> Report:
    """COCO instances: each split's annotation file parses (``images``, ``annotations``,
    ``categories``), every annotation names a known image and category and has a box
    ``[x, y, w, h]`` with ``w, h >= 0``, every image listed is in ``<split>/`` and not empty, and
    every image file in ``<split>/`` is listed."""
    report = Report("coco", Path(path))
    root = Path(path)
    for split in splits:
        ann_file = root / "annotations" / f"instances_{split}.json"
        folder = root / split
        if not ann_file.is_file():
            report.error(f"missing annotation file annotations/instances_{split}.json")
        if not folder.is_dir():
            report.error(f"missing image folder {split}/")
        if not ann_file.is_file():
            continue
        try:
            data = json.loads(ann_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            report.error(f"annotations/instances_{split}.json does not parse: {e}")
            continue
        missing_keys = [k for k in ("images", "annotations", "categories")
                        if not isinstance(data, dict) or not isinstance(data.get(k), list)]
        if missing_keys:
            report.error(f"annotations/instances_{split}.json has no list {_named(missing_keys)}")
            continue
        images = {im.get("id"): im.get("file_name") for im in data["images"]}
        categories = {c.get("id") for c in data["categories"]}
        report.counts[f"{split} images listed"] = len(images)
        report.counts[f"{split} annotations"] = len(data["annotations"])
        report.counts[f"{split} categories"] = len(categories)
        bad = []
        for i, ann in enumerate(data["annotations"]):
            box = ann.get("bbox")
            if ann.get("image_id") not in images:
                bad.append(f"annotation {ann.get('id', f'#{i}')} names unknown image_id "
                           f"{ann.get('image_id')}")
            elif ann.get("category_id") not in categories:
                bad.append(f"annotation {ann.get('id', f'#{i}')} names unknown category_id "
                           f"{ann.get('category_id')}")
            elif (not isinstance(box, list) or len(box) != 4
                  or not all(isinstance(v, (int, float)) for v in box) or min(box[2:]) < 0):
                bad.append(f"annotation {ann.get('id', f'#{i}')} has bbox {box!r}; expected "
                           f"[x, y, w, h] with w, h >= 0")
        report.errors += [f"coco: instances_{split}.json: {m}" for m in bad]
        if not folder.is_dir():
            continue
        files = _images_in(folder)
        report.counts[f"{split} image files"] = len(files)
        listed = set(images.values())
        missing = sorted(name for name in listed if name not in files)
        empty = sorted(name for name in listed if files.get(name) == 0)
        unlisted = sorted(set(files) - listed)
        if missing:
            report.error(f"{len(missing)} image(s) listed in instances_{split}.json are missing "
                         f"from {split}/: {_named(missing)}")
        if empty:
            report.error(f"{len(empty)} image file(s) in {split}/ are empty: {_named(empty)}")
        if unlisted:
            report.warn(f"{len(unlisted)} image file(s) in {split}/ are in no annotation: "
                        f"{_named(unlisted)}")
        expected = COCO_IMAGES.get(split)
        if expected is not None and len(images) != expected:
            report.warn(f"{split} lists {len(images):,} images; COCO 2017 has {expected:,} "
                        f"(a subset: fine for a short run, say so in the overrides)")
    return report


def check_imagenet(path: str | os.PathLike) -> Report:
    """ImageNet in ``ImageFolder`` layout: ``train/`` and ``val/`` hold the same class folders,
    none empty, no empty image file."""
    report = Report("imagenet", Path(path))
    root = Path(path)
    classes: dict[str, set[str]] = {}
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            report.error(f"missing folder {split}/ (expected {split}/<wnid>/*.JPEG)")
            continue
        class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
        classes[split] = {p.name for p in class_dirs}
        loose = sorted(p.name for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if loose:
            report.error(f"{len(loose)} image(s) directly in {split}/, outside class folders: "
                         f"{_named(loose)} (sort val into <wnid>/ folders, as torchvision's "
                         f"ImageFolder reads it)")
        total, empty_classes, empty_files = 0, [], []
        for d in class_dirs:
            files = _images_in(d)
            total += len(files)
            if not files:
                empty_classes.append(d.name)
            empty_files += [f"{d.name}/{n}" for n, size in files.items() if size == 0]
        report.counts[f"{split} classes"] = len(class_dirs)
        report.counts[f"{split} images"] = total
        if empty_classes:
            report.error(f"{len(empty_classes)} class folder(s) in {split}/ have no image: "
                         f"{_named(empty_classes)}")
        if empty_files:
            report.error(f"{len(empty_files)} empty image file(s) in {split}/: "
                         f"{_named(sorted(empty_files))}")
        if total != IMAGENET_IMAGES[split]:
            report.warn(f"{split} has {total:,} images; ImageNet-1k has "
                        f"{IMAGENET_IMAGES[split]:,}")
    if "train" in classes and "val" in classes and classes["train"] != classes["val"]:
        only_train = sorted(classes["train"] - classes["val"])
        only_val = sorted(classes["val"] - classes["train"])
        if only_train:
            report.error(f"{len(only_train)} class(es) in train/ but not in val/: "
                         f"{_named(only_train)}")
        if only_val:
            report.error(f"{len(only_val)} class(es) in val/ but not in train/: "
                         f"{_named(only_val)}")
    if classes and len(classes.get("train", classes.get("val", ()))) != IMAGENET_CLASSES:
        n = len(classes.get("train", classes.get("val", ())))
        report.warn(f"{n:,} classes; ImageNet-1k has {IMAGENET_CLASSES:,}")
    return report


def _mot_table(path: Path, min_columns: int, seq_length: int, name: str) -> list[str]:
    """Problems of a MOT ``gt.txt`` / ``det.txt``: rows of >= ``min_columns`` numbers, frame
    (column 1) in 1..``seq_length``, width and height (columns 5, 6) >= 0."""
    problems = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split(",")]
        except ValueError:
            problems.append(f"{name} line {number} is not comma-separated numbers: {line[:60]!r}")
            continue
        if len(values) < min_columns:
            problems.append(f"{name} line {number} has {len(values)} columns; expected at least "
                            f"{min_columns}")
        elif not 1 <= values[0] <= seq_length:
            problems.append(f"{name} line {number}: frame {values[0]:g} outside 1..{seq_length}")
        elif min(values[4], values[5]) < 0:
            problems.append(f"{name} line {number}: negative box width or height")
    return problems


def check_mot17(path: str | os.PathLike) -> Report:
    """MOT17 (MOTChallenge layout): every sequence's ``seqinfo.ini`` parses, ``img1/`` holds the
    frames ``000001<imExt>`` .. ``seqLength``, train sequences have a ``gt/gt.txt`` of 9 columns
    and every sequence a ``det/det.txt`` of at least 7, frames within the sequence."""
    report = Report("mot17", Path(path))
    root = Path(path)
    for split in ("train", "test"):
        folder = root / split
        if not folder.is_dir():
            report.error(f"missing folder {split}/ (expected {split}/MOT17-XX-<detector>/)")
            continue
        sequences = sorted(p for p in folder.iterdir() if p.is_dir())
        report.counts[f"{split} sequences"] = len(sequences)
        if len(sequences) != MOT17_SEQUENCES[split]:
            report.warn(f"{split}/ has {len(sequences)} sequence folders; MOT17 has "
                        f"{MOT17_SEQUENCES[split]}")
        frames = 0
        for seq in sequences:
            where = f"{split}/{seq.name}"
            ini = seq / "seqinfo.ini"
            if not ini.is_file():
                report.error(f"{where}: missing seqinfo.ini")
                continue
            parser = configparser.ConfigParser()
            try:
                parser.read(ini)
                info = parser["Sequence"]
                length, im_dir = int(info["seqLength"]), info.get("imDir", "img1")
                im_ext = info.get("imExt", ".jpg")
            except (configparser.Error, KeyError, ValueError) as e:
                report.error(f"{where}/seqinfo.ini does not parse (needs [Sequence] with "
                             f"seqLength): {e!r}")
                continue
            images = seq / im_dir
            if not images.is_dir():
                report.error(f"{where}: missing image folder {im_dir}/")
            else:
                files = _images_in(images)
                frames += len(files)
                missing = [f"{i:06d}{im_ext}" for i in range(1, length + 1)
                           if f"{i:06d}{im_ext}" not in files]
                if missing:
                    report.error(f"{where}: {len(missing)} of {length} frames missing from "
                                 f"{im_dir}/: {_named(missing)}")
                empty = sorted(n for n, size in files.items() if size == 0)
                if empty:
                    report.error(f"{where}: {len(empty)} empty frame file(s): {_named(empty)}")
            tables = [("det/det.txt", 7)] + ([("gt/gt.txt", 9)] if split == "train" else [])
            for rel, columns in tables:
                table = seq / rel
                if not table.is_file():
                    report.error(f"{where}: missing {rel}")
                    continue
                report.errors += [f"mot17: {where}/{p}" for p in
                                  _mot_table(table, columns, length, Path(rel).name)]
        report.counts[f"{split} frames"] = frames
    return report


def check_planetoid(path: str | os.PathLike, names: tuple[str, ...] = ("cora", "citeseer",
                                                                       "pubmed")) -> Report:
    """The Planetoid files of the GCN code, ``ind.<name>.*``, for each of ``names``; the test
    index file must be integers (the pickles are read by :func:`relnotes.data.load_planetoid`)."""
    report = Report("planetoid", Path(path))
    root = Path(path)
    for name in names:
        present = 0
        for key in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"):
            f = root / f"ind.{name}.{key}"
            if not f.is_file():
                report.error(f"missing ind.{name}.{key}")
                continue
            present += 1
            if key == "test.index":
                try:
                    n = len([int(v) for v in f.read_text().split()])
                    report.counts[f"{name} test nodes"] = n
                except ValueError:
                    report.error(f"ind.{name}.test.index is not a list of integers")
            elif f.stat().st_size == 0:
                report.error(f"ind.{name}.{key} is empty")
    return report


KINDS = {"coco": check_coco, "imagenet": check_imagenet, "mot17": check_mot17,
         "planetoid": check_planetoid}


def check(kind: str, path: str | os.PathLike) -> Report:
    """Run the checker of ``kind`` (one of ``KINDS``) on ``path``.

    Raises:
        ValueError: unknown ``kind``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {', '.join(KINDS)}")
    if not Path(path).is_dir():
        report = Report(kind, Path(path))
        report.error(f"{path} is not a folder")
        return report
    return KINDS[kind](path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relnotes.data.check",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("path")
    parser.add_argument("--splits", nargs="+", default=None,
                        help="coco only: the splits to check (default: train2017 val2017)")
    parser.add_argument("--names", nargs="+", default=None,
                        help="planetoid only: the sets to check (default: cora citeseer pubmed)")
    parser.add_argument("--max-lines", type=int, default=50,
                        help="problems shown per list (default: 50)")
    args = parser.parse_args(argv)
    if args.splits and args.kind != "coco":
        parser.error("--splits applies to coco only")
    if args.names and args.kind != "planetoid":
        parser.error("--names applies to planetoid only")
    if args.kind == "coco" and args.splits and Path(args.path).is_dir():
        report = check_coco(args.path, tuple(args.splits))
    elif args.kind == "planetoid" and args.names and Path(args.path).is_dir():
        report = check_planetoid(args.path, tuple(args.names))
    else:
        report = check(args.kind, args.path)
    print(report.format(args.max_lines))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
