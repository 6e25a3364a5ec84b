"""Parameter validation of the scenes world: every impossible value names its key."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from datarecipes.config import ParameterError, from_params
from datarecipes.scenes import ScenesParams
from tests.helpers import PROJECT_ROOT

WHERE = "parameters_scenes.yml: scenes"


def _params(**overrides) -> ScenesParams:
    return from_params(ScenesParams, overrides, where=WHERE)


def test_parameters_file_matches_the_dataclass_defaults():
    section = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_scenes.yml").read_text())
    params = from_params(ScenesParams, section["scenes"], where=WHERE)
    # Every knob is in the file, and the file documents the defaults.
    assert set(section["scenes"]) == {f.name for f in dataclasses.fields(ScenesParams)}
    assert params == ScenesParams()


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"n_scenes": -5}, "n_scenes"),
        ({"n_scenes": 0}, "n_scenes"),
        ({"min_objects": -1}, "min_objects"),
        ({"min_objects": 5, "max_objects": 4}, "max_objects"),
        ({"seed": -1}, "seed"),
        ({"shapes": ["cube", "hexagon"]}, "shapes"),
        ({"colours": ["red", "mauve"]}, "colours"),
        ({"sizes": ["tiny"]}, "sizes"),
        ({"materials": ["wood"]}, "materials"),
        ({"shapes": []}, "shapes"),
        ({"shapes": ["cube", "cube"]}, "shapes"),
        ({"image_size": [32, 32]}, "image_size"),
        ({"image_size": [128]}, "image_size"),
        ({"image_size": [0, 128]}, "image_size"),
        ({"image_size": [80, 80], "max_objects": 16}, "image_size"),
        ({"split_fractions": {"train": 0.8, "validation": 0.3}}, "split_fractions"),
        ({"split_fractions": {"train": 1.2, "test": -0.2}}, "split_fractions.train"),
        ({"split_fractions": {"train": 0.5, "dev": 0.5}}, "split_fractions"),
        ({"corrupt_fraction": 1.5}, "corrupt_fraction"),
        ({"corrupt_fraction": -0.1}, "corrupt_fraction"),
        ({"corruption_kinds": ["shuffle"]}, "corruption_kinds"),
        ({"min_visible_fraction": 0.0}, "min_visible_fraction"),
        ({"n_scenes": 1, "corrupt_fraction": 0.5, "corruption_kinds": ["swap"]},
         "corruption_kinds"),
    ],
)
def test_impossible_values_raise_a_parameter_error_naming_the_key(overrides, key):
    with pytest.raises(ParameterError) as err:
        _params(**overrides)
    message = str(err.value)
    assert message.startswith(WHERE)
    assert key in message


def test_unknown_shape_error_names_the_value_and_the_supported_ones():
    with pytest.raises(ParameterError, match="'hexagon'.*'torus'"):
        _params(shapes=["hexagon"])


def test_unknown_key_and_wrong_type_are_refused():
    with pytest.raises(ParameterError, match="unknown key"):
        _params(n_scene=3)
    with pytest.raises(ParameterError, match="n_scenes"):
        _params(n_scenes="many")


def test_valid_non_default_values_are_accepted():
    params = _params(
        image_size=[160, 96], sizes=["small", "medium", "large"], colours=["white", "black"],
        split_fractions={"train": 1.0}, corrupt_fraction=0.3, corruption_kinds=["attribute"],
    )
    assert (params.width, params.height) == (160, 96)
    assert params.split_fractions == {"train": 1.0}
