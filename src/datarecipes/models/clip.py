"""CLIP models through open_clip's own factory.

A hub architecture (``ViT-B-32`` with a pretrained tag or a local weights file) and our offline
``tiny-clip`` preset take one code path: the preset is a declarative open_clip model config
(``presets/open_clip/tiny-clip.json``) registered with ``open_clip.add_model_config``, and
every model is built by ``open_clip.create_model_and_transforms``. A trained model is saved as
an open_clip ``local-dir`` checkpoint (``open_clip_config.json`` + safetensors weights), so it
loads by path with ``model: local-dir:<dir>`` exactly like a hub checkpoint — no pickle.
The catalog's :class:`datarecipes.io.checkpoints.ClipCheckpointDataset` calls these.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from datarecipes.fingerprint import state_fingerprint  # noqa: F401  (re-exported)

#: open_clip model configs, kept apart from the transformers presets beside them.
PRESETS_DIR = Path(__file__).parent / "presets" / "open_clip"
#: The offline preset trained by the ``filtering`` pipeline (there is no pretrained CLIP offline):
#: open_clip's ModifiedResNet image tower (as in CLIP RN50) at toy size, 64 px input, with a
#: 2-layer text transformer. A CNN rather than a ViT because it must learn from a few hundred
#: pairs: on the scenes world a same-size ViT overfit (swapped-caption AUC 0.65 vs 0.80).
TINY_CLIP = "tiny-clip"
#: File names open_clip's ``local-dir:`` loader looks for.
CONFIG_NAME = "open_clip_config.json"
WEIGHTS_NAME = "open_clip_model.safetensors"

_registered = False


def register_clip_presets() -> None:
    """Register our declarative CLIP configs with open_clip (idempotent)."""
    global _registered
    if _registered:
        return
    import open_clip

    open_clip.add_model_config(PRESETS_DIR)
    _registered = True


@dataclass
class LoadedClip:
    """A CLIP model with its inference transform and tokenizer."""

    model: torch.nn.Module
    #: PIL image → normalised ``(3, S, S)`` tensor (open_clip's validation transform).
    preprocess: Callable[[Any], torch.Tensor]
    #: list of captions → ``(n, context_length)`` token ids.
    tokenizer: Callable[[list[str]], torch.Tensor]
    #: The open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``).
    config: dict[str, Any]
    name: str

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)


def load_clip(
    model: str = TINY_CLIP,
    pretrained: str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
) -> LoadedClip:
    """Build a CLIP with open_clip's factory.

    ``model`` is an open_clip architecture name (``ViT-B-32``, ``tiny-clip``) or
    ``local-dir:<dir>`` (a checkpoint written by :func:`save_clip`); ``pretrained`` is an
    open_clip tag or a weights file for a named architecture, ``None`` for random init.
    """
    import open_clip

    register_clip_presets()
    if pretrained is not None and not model.startswith("local-dir:"):
        known_tags = open_clip.list_pretrained_tags_by_model(model)
        if pretrained not in known_tags and not Path(pretrained).is_file():
            raise FileNotFoundError(
                f"clip.pretrained={pretrained!r} is neither a weights file nor one of the "
                f"open_clip tags of {model!r} ({known_tags})"
            )
    try:
        net, _, preprocess = open_clip.create_model_and_transforms(
            model, pretrained=pretrained, device=device, precision=precision
        )
    except RuntimeError as err:
        if "not found" in str(err):
            raise ValueError(
                f"clip.model={model!r} is not an open_clip architecture; known: "
                f"{open_clip.list_models()}"
            ) from err
        raise
    net.eval()
    config = open_clip.get_model_config(model)
    if config is None:
        raise ValueError(f"clip.model={model!r}: open_clip has no config for it")
    return LoadedClip(
        model=net,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(model),
        config=dict(config),
        name=model,
    )


def save_clip(loaded: LoadedClip, directory: str | Path) -> Path:
    """Write ``loaded`` as an open_clip ``local-dir`` checkpoint; returns the directory.

    Written atomically (a crashed save never leaves a half checkpoint behind).
    """
    from safetensors.torch import save_file

    from datarecipes.io.atomic import atomic_path

    with atomic_path(directory) as tmp:
        tmp.mkdir()
        state = {k: v.detach().contiguous().cpu() for k, v in loaded.model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_NAME))
        preprocess_cfg = dict(getattr(loaded.model.visual, "preprocess_cfg", {}) or {})
        (tmp / CONFIG_NAME).write_text(
            json.dumps({"model_cfg": loaded.config, "preprocess_cfg": preprocess_cfg}, indent=2),
            encoding="utf-8",
        )
    return Path(directory)
