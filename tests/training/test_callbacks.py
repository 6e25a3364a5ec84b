from types import SimpleNamespace

import mlflow

from datarecipes.training.callbacks import StepMetricsCallback


def _isolated_mlflow(tmp_path, monkeypatch) -> None:
    """This test's own store and experiment: earlier tests may have set MLflow's globals."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("callbacks")


def _state(step, tokens):
    return SimpleNamespace(global_step=step, num_input_tokens_seen=tokens)


def test_logs_to_mlflow_only_inside_an_active_run(tmp_path, monkeypatch):
    _isolated_mlflow(tmp_path, monkeypatch)
    callback = StepMetricsCallback(prefix="sft")
    callback.on_train_begin(None, _state(0, 0), None)
    callback.on_log(None, _state(1, 100), None, logs={"loss": 2.0, "learning_rate": 1e-3})
    assert callback.history[0]["loss"] == 2.0 and callback.history[0]["tokens_per_second"] > 0
    with mlflow.start_run() as run:
        callback.on_log(None, _state(2, 300), None,
                        logs={"loss": 1.5, "reward": 0.4, "completions/mean_length": 7.0,
                              "note": "text is ignored"})
    client = mlflow.tracking.MlflowClient()
    history = client.get_metric_history(run.info.run_id, "sft_loss")
    assert [(m.step, m.value) for m in history] == [(2, 1.5)]
    assert client.get_metric_history(run.info.run_id, "sft_reward_mean")[0].value == 0.4
    assert client.get_metric_history(run.info.run_id, "sft_completion_length")[0].value == 7.0
    assert len(client.get_metric_history(run.info.run_id, "sft_tokens_per_second")) == 1


def test_curves_of_namespaced_nodes_do_not_collide(tmp_path, monkeypatch):
    from datarecipes.tracking_context import NODE_NAMESPACE as _NODE_NAMESPACE

    _isolated_mlflow(tmp_path, monkeypatch)
    with mlflow.start_run() as run:
        for namespace, loss in (("mcts", 1.0), ("random", 3.0)):
            token = _NODE_NAMESPACE.set(namespace)
            try:
                callback = StepMetricsCallback(prefix="grpo")
                callback.on_train_begin(None, _state(0, 0), None)
                callback.on_log(None, _state(1, 10), None, logs={"loss": loss})
            finally:
                _NODE_NAMESPACE.reset(token)
    client = mlflow.tracking.MlflowClient()
    assert client.get_metric_history(run.info.run_id, "mcts.grpo_loss")[0].value == 1.0
    assert client.get_metric_history(run.info.run_id, "random.grpo_loss")[0].value == 3.0
    assert client.get_metric_history(run.info.run_id, "grpo_loss") == []
