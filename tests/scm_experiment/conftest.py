"""The ThinkLite tests' session preset cache (tiny-lm is built once per test session)."""

from tests.thinklite.conftest import preset_cache  # noqa: F401
