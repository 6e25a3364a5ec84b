"""One local Ray instance (2 CPUs) for every Ray test of the session: starting Ray costs ~15 s."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_instance():
    pytest.importorskip("ray")
    import ray
    import ray.cloudpickle

    from tests.scaling import ray_batch_fns

    ray.cloudpickle.register_pickle_by_value(ray_batch_fns)  # test helpers are not installed
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True,
             log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(ray_batch_fns)
