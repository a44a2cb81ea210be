"""Training and evaluation for every chapter: seeds, checkpoints, ``fit`` and ``evaluate``.

The package exports the first three modules; the others are imported by their path:

- :mod:`relnotes.engine.seed`: ``seed_everything(seed, threads)`` and ``rng_state()`` /
  ``set_rng_state(state)``, the generators' state saved inside checkpoints.
- :mod:`relnotes.engine.checkpoint`: ``save_checkpoint`` (atomic: temporary file, fsync,
  ``os.replace``) and ``load_checkpoint`` (always ``weights_only=True``).
- :mod:`relnotes.engine.loop`: ``fit`` (seeded example order, tqdm bar, checkpoints every N steps,
  bit-exact resume, a clear stop on a NaN loss) and ``evaluate``.
- :mod:`relnotes.engine.classification`: the cross-entropy step, accuracy and the short recipe
  of the classification chapters (``train_classifier``).
- :mod:`relnotes.engine.detection`: box heads trained on one frozen detector body (RN Tables 1-2):
  ``train_detector``, ``body_state`` / ``load_body``, ``evaluate_detector`` (COCO mAP).
- :mod:`relnotes.engine.dedup`: duplicate removal after a detector's box
  head, the rules (NMS, Soft-NMS) and the learned network, trained alone or end to end (RN
  Tables 3-4).
- :mod:`relnotes.engine.coco`: RN's COCO setting of the ``full`` profile
  (splits, the R50-FPN detector, the SGD schedule) in one place for the detection notebooks.
- :mod:`relnotes.engine.node_classification`: semi-supervised node classification on a whole
  graph (the graphs chapter).
- :mod:`relnotes.engine.seq2seq`: teacher-forced training and greedy decoding (the language
  chapter).
- :mod:`relnotes.engine.tracking`: the online tracker and the training of its pair scorer (STRN).
- :mod:`relnotes.engine.train_log`: the JSON-lines training log ``fit`` writes beside a
  checkpoint.
- :mod:`relnotes.engine.distributed`: ``torchrun`` ranks, DistributedDataParallel and the
  sharded sampler that ``fit`` uses past one process.

A typical chapter::

    seed_everything(0, threads=2)
    model = ...
    history = fit(model, train_set, loss_fn, torch.optim.Adam(model.parameters()),
                  epochs=10, batch_size=32, eval_dataset=val_set, metric_fn=metric_fn,
                  checkpoint_path="build/ckpt/chapter.pt")
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .loop import EpochBatchSampler, History, NonFiniteLossError, epoch_permutation, evaluate, fit
from .seed import rng_state, seed_everything, set_rng_state

__all__ = [
    "CheckpointError", "EpochBatchSampler", "History", "NonFiniteLossError", "epoch_permutation",
    "evaluate", "fit", "load_checkpoint", "rng_state", "save_checkpoint", "seed_everything",
    "set_rng_state",
]
