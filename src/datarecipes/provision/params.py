"""Parameters of the ProVision recipe (section ``provision`` of ``parameters_provision.yml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from datarecipes.annotations.validate import ValidationSettings
from datarecipes.config import parameters_section, require
from datarecipes.provision.base import REGISTRY, GeneratorSettings
from datarecipes.provision.engine import CAPTION, MULTI_IMAGE, SINGLE_IMAGE, RunConfig


@parameters_section("provision")
@dataclass(frozen=True)
class ProvisionParams:
    """Scene graphs → templated single- and multi-image QA (ProVision)."""

    #: Seed of every random choice; the same seed gives identical output.
    seed: int = 0
    #: Generators to run, by ProVision name, or "all" (24 single-image + 14 multi-image).
    generators: list[str] | str = "all"
    #: Questions kept per generator per image (per image group for multi-image generators).
    budget_per_generator: int = 1
    #: Fraction of questions asked in multiple-choice form (the rest open-ended).
    mcq_fraction: float = 0.5
    #: Options in a multiple-choice question (also the most candidates a question lists).
    n_choice: int = 4
    #: Images per multi-image question.
    group_size: int = 2
    #: Image groups drawn per split for the multi-image generators (0 disables them).
    groups_per_split: int = 100
    #: Minimum depth difference (0-255) for depth questions (the reference's threshold, 50).
    depth_threshold: float = 50.0
    #: Depth-point questions drawn per image for CloserPoint / FartherPoint.
    point_pairs: int = 2
    #: Scene-graph questions: most elements (attributes, relation, neighbour attributes)
    #: in a description (the reference's subgraph size, 3).
    max_subgraph_size: int = 3
    #: Scene-graph questions: descriptions kept per object, smallest first.
    max_descriptions: int = 4
    #: Countable labels: ``stoplist`` (ours: all but mass nouns) or ``reference`` (ProVision's
    #: OBJECT_FOR_COUNTING_TASK allowlist; unlisted labels are not counted).
    counting_vocabulary: Literal["stoplist", "reference"] = "stoplist"
    #: Objects Most/LeastObject count: ``all`` (ours) or ``non_including`` (the reference's
    #: ``non_including_bboxes()``: boxes that contain another box are left out).
    frequency_objects: Literal["all", "non_including"] = "all"
    #: Depth-point pairs still below ``depth_threshold`` after the tries: ``skip`` (ours) or
    #: ``emit`` (the reference: 1 draw + 10 retries, then the last pair is asked anyway).
    depth_point_fallback: Literal["skip", "emit"] = "skip"
    #: Add ProVision's description-only ``SceneGraphCaption`` to ``generators: all``.
    scene_graph_caption: bool = False
    #: Validation: two detections of one label with IoU above this are one object (merged).
    duplicate_iou: float = 0.95
    #: Validation: pixels a box may pass the image edge (clipped); beyond, the object is refused.
    box_tolerance_px: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.generators, str):
            require(self.generators == "all",
                    f"generators must be 'all' or a list of names, got {self.generators!r}")
        else:
            unknown = sorted(set(self.generators) - set(REGISTRY))
            require(not unknown, f"generators: unknown name(s) {unknown}; known: "
                                 f"{list(SINGLE_IMAGE + MULTI_IMAGE + CAPTION)}")
            require(len(self.generators) > 0, "generators must not be empty")
        require(self.budget_per_generator >= 1,
                f"budget_per_generator must be at least 1, got {self.budget_per_generator}")
        require(0.0 <= self.mcq_fraction <= 1.0,
                f"mcq_fraction must be in [0, 1], got {self.mcq_fraction}")
        require(2 <= self.n_choice <= 10, f"n_choice must be in [2, 10], got {self.n_choice}")
        require(self.group_size >= 2, f"group_size must be at least 2, got {self.group_size}")
        require(self.groups_per_split >= 0,
                f"groups_per_split must not be negative, got {self.groups_per_split}")
        require(0 <= self.depth_threshold <= 255,
                f"depth_threshold must be in [0, 255], got {self.depth_threshold}")
        require(self.point_pairs >= 0, f"point_pairs must not be negative, got {self.point_pairs}")
        require(1 <= self.max_subgraph_size <= 5,
                f"max_subgraph_size must be in [1, 5], got {self.max_subgraph_size}")
        require(self.max_descriptions >= 1,
                f"max_descriptions must be at least 1, got {self.max_descriptions}")
        require(0.0 < self.duplicate_iou <= 1.0,
                f"duplicate_iou must be in (0, 1], got {self.duplicate_iou}")
        require(self.box_tolerance_px >= 0,
                f"box_tolerance_px must not be negative, got {self.box_tolerance_px}")

    def validation(self) -> ValidationSettings:
        return ValidationSettings(duplicate_iou=self.duplicate_iou,
                                  box_tolerance=self.box_tolerance_px)

    def run_config(self, progress: bool = True) -> RunConfig:
        if self.generators == "all":
            names = SINGLE_IMAGE + MULTI_IMAGE + (CAPTION if self.scene_graph_caption else ())
        else:
            names = tuple(self.generators)
        return RunConfig(
            seed=self.seed, generators=names, budget=self.budget_per_generator,
            mcq_fraction=self.mcq_fraction, group_size=self.group_size,
            n_groups=self.groups_per_split, progress=progress,
            settings=GeneratorSettings(
                depth_threshold=self.depth_threshold, n_choice=self.n_choice,
                point_pairs=self.point_pairs, max_subgraph_size=self.max_subgraph_size,
                max_descriptions=self.max_descriptions,
                counting_vocabulary=self.counting_vocabulary,
                frequency_objects=self.frequency_objects,
                depth_point_fallback=self.depth_point_fallback))
