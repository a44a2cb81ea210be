"""See the package docstring of relnotes."""

from .coco_eval import coco_evaluate, detections_to_coco, encode_masks
from .coco_instances import CocoInstances
from .composition import COMPOSITION_CLASSES, COMPOSITION_PART, make_composition
from .context_masks import ContextMasks, make_context_masks
from .collate import detection_collate
from .context_shapes import ContextShapes, make_context_shapes
from .context_flags import ContextFlagsSample, context_flags, context_flags_dataset
from .deepforest_trees import DEEPFOREST_IMAGES, deepforest_data_dir, load_deepforest_trees, with_flips
from .graphs import Graph, KARATE_COMMUNITIES, check_graph, digits_knn, karate_club, load_planetoid
from .mnist5k import MNIST5K_PER_CLASS, load_mnist5k, mnist5k_path
from .number_words import NumberWords, Vocabulary, number_words
from .photo_crops import PHOTOS, load_photos, photo_crops

__all__ = ["COMPOSITION_CLASSES", "COMPOSITION_PART", "ContextFlagsSample", "PHOTOS",
           "context_flags", "context_flags_dataset", "load_photos", "photo_crops",
           "ContextShapes", "coco_evaluate", "detection_collate", "detections_to_coco",
           "make_context_shapes", "DEEPFOREST_IMAGES", "deepforest_data_dir",
           "load_deepforest_trees", "with_flips",
           "CocoInstances", "ContextMasks", "encode_masks",
           "make_context_masks",
           "Graph", "KARATE_COMMUNITIES", "check_graph", "digits_knn", "karate_club",
           "load_planetoid", "NumberWords", "Vocabulary", "number_words",
           "MNIST5K_PER_CLASS", "load_mnist5k", "make_composition", "mnist5k_path"]
