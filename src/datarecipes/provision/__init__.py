"""ProVision: scene graphs → single- and multi-image QA whose answers are true by construction.

Public API:

* :func:`generate_questions` (``engine``) — sampled, rendered question records for a split,
  as :class:`ProvisionParams` (the ``provision`` parameter section) says;
* :func:`build_generators`, :data:`REGISTRY` — the 24 single-image and 14 multi-image
  generators by ProVision name; each ``enumerate``\\ s candidates from a :class:`GraphIndex`
  (or a list of them, for a multi-image group);
* :func:`render` — text for one candidate; :func:`to_table` / :func:`to_conversation` —
  output formats.
"""

from datarecipes.provision.base import REGISTRY, Candidate, Generator, GeneratorParams
from datarecipes.provision.engine import (
    CAPTION,
    MULTI_IMAGE,
    SINGLE_IMAGE,
    build_generators,
    generate_questions,
)
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.output import assign_ids, to_conversation, to_table
from datarecipes.provision.params import ProvisionParams
from datarecipes.provision.render import Vocabulary, format_solution, render

__all__ = [
    "CAPTION", "MULTI_IMAGE", "REGISTRY", "SINGLE_IMAGE", "Candidate", "Generator",
    "GeneratorParams", "GraphIndex", "ProvisionParams", "Vocabulary", "assign_ids",
    "build_generators", "format_solution", "generate_questions", "render", "to_conversation",
    "to_table",
]
