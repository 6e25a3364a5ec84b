"""Model factory: tiny offline presets and real checkpoints through one code path."""

from datarecipes.models.checkpoint import merge_lora, save_checkpoint
from datarecipes.models.conversations import (
    BadSampleError,
    Conversation,
    llava_to_messages,
    load_image,
)
from datarecipes.models.factory import LoadedModel, ModelLoadError, load_model, lora_config
from datarecipes.models.generation import generate
from datarecipes.models.presets import build_preset, preset_names
from datarecipes.models.spec import LoraParams, ModelParams, ModelsParams

__all__ = [
    "BadSampleError",
    "Conversation",
    "LoadedModel",
    "LoraParams",
    "ModelLoadError",
    "ModelParams",
    "ModelsParams",
    "build_preset",
    "generate",
    "llava_to_messages",
    "load_image",
    "load_model",
    "lora_config",
    "merge_lora",
    "preset_names",
    "save_checkpoint",
]
