"""I/O helpers and custom Kedro datasets."""
