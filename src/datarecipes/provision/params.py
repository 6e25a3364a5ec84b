"""Parameters of the ProVision recipe (section ``provision`` of ``parameters_provision.yml``).

One class for the section: :func:`~datarecipes.provision.engine.generate_questions` reads the
:class:`ProvisionParams` itself, each generator its ``generator_settings`` field
(:class:`~datarecipes.provision.base.GeneratorParams`) and the validation of the graphs its
``validation`` field (:class:`~datarecipes.annotations.validate.ValidationParams`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datarecipes.annotations.validate import ValidationParams
from datarecipes.config import parameters_section, require
from datarecipes.provision.base import REGISTRY, GeneratorParams
from datarecipes.provision.engine import CAPTION, MULTI_IMAGE, SINGLE_IMAGE


@parameters_section("provision")
@dataclass(frozen=True)
class ProvisionParams:
    """Scene graphs → templated single- and multi-image QA (ProVision)."""

    #: Seed of every random choice; the same seed gives identical output.
    seed: int = 0
    #: Generators to run, by ProVision name, or "all" (24 single-image + 14 multi-image).
    generators: list[str] | str = "all"
    #: Add ProVision's description-only ``SceneGraphCaption`` to ``generators: all``.
    scene_graph_caption: bool = False
    #: Questions kept per generator per image (per image group for multi-image generators).
    budget_per_generator: int = 1
    #: Fraction of questions asked in multiple-choice form (the rest open-ended).
    mcq_fraction: float = 0.5
    #: Images per multi-image question.
    group_size: int = 2
    #: Image groups drawn per split for the multi-image generators (0 disables them).
    groups_per_split: int = 100
    #: What every generator reads (options per question, depth threshold, vocabularies, ...).
    generator_settings: GeneratorParams = field(default_factory=GeneratorParams)
    #: How the scene graphs are checked as they enter (duplicates merged, bad boxes refused).
    validation: ValidationParams = field(default_factory=ValidationParams)

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
        require(self.group_size >= 2, f"group_size must be at least 2, got {self.group_size}")
        require(self.groups_per_split >= 0,
                f"groups_per_split must not be negative, got {self.groups_per_split}")

    @property
    def generator_names(self) -> tuple[str, ...]:
        """The generators that run, in order: ``all`` is ProVision's 24 single-image and 14
        multi-image generators, and ``SceneGraphCaption`` when ``scene_graph_caption``."""
        if self.generators == "all":
            return SINGLE_IMAGE + MULTI_IMAGE + (CAPTION if self.scene_graph_caption else ())
        return tuple(self.generators)
