"""Every experiment section checks its seeds and bootstrap alike, and is read from its file
(naming it) before Kedro loads the parameters."""

from __future__ import annotations

import pytest

from datarecipes.experiments.filtering_params import FilteringExperimentParams
from datarecipes.experiments.params import ExperimentParams
from datarecipes.experiments.scm_params import ScmExperimentParams
from datarecipes.experiments.sections import section_from_file

SECTIONS = [(ExperimentParams, "thinklite_experiment"),
            (FilteringExperimentParams, "filtering_experiment"),
            (ScmExperimentParams, "scm_experiment")]


@pytest.mark.parametrize(("cls", "section"), SECTIONS)
@pytest.mark.parametrize(("override", "message"), [
    ({"seeds": []}, "at least one seed"),
    ({"seeds": [0, 1, 0]}, "seeds repeat a value"),
    ({"seeds": [0, -1]}, "seeds must be >= 0"),
    ({"bootstrap_resamples": 10}, "bootstrap_resamples must be >= 100"),
])
def test_bad_seeds_or_resamples_are_refused_naming_the_file(tmp_path, cls, section,
                                                            override, message):
    (tmp_path / "parameters.yml").write_text(
        f"{section}:\n" + "".join(f"  {k}: {v}\n" for k, v in override.items()))
    with pytest.raises(ValueError, match=message) as error:
        section_from_file(cls, tmp_path, "parameters.yml", section)
    assert f"parameters.yml: {section}" in str(error.value)


@pytest.mark.parametrize(("cls", "section"), SECTIONS)
def test_a_missing_file_gives_the_section_defaults(tmp_path, cls, section):
    assert section_from_file(cls, tmp_path, "absent.yml", section) == cls()
