"""The package list, which pyproject.toml cannot express: ``datarecipes`` and its subpackages
from ``src/``, plus ``datarecipes.kernels`` from the top-level ``kernels/src`` (the directory
mapping is pyproject's ``[tool.setuptools.package-dir]``). Everything else is in pyproject.toml.

``find_namespace_packages`` as pyproject's ``packages.find`` did (``namespaces = true``):
directories without ``__init__.py`` (``filtering/``, the preset data) are packages too.
"""

from setuptools import find_namespace_packages, setup

setup(packages=[*find_namespace_packages("src", include=["datarecipes*"]), "datarecipes.kernels"])
