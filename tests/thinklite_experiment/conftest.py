"""The ThinkLite tests' tiny world and preset cache, shared with this package."""

from tests.thinklite.conftest import preset_cache, tiny_world  # noqa: F401
