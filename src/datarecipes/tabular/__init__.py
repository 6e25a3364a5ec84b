"""MachineLearningLM: SCM prior, many-shot serialisation, real tables, baselines, evaluation.

Modules: ``prior`` (+ ``prior_config``, ``scm_layers``) synthetic tasks; ``serialize`` the
prompt format; ``context`` prompt-length checks; ``sft`` training records; ``teacher`` the RF
warm-up teacher; ``tables`` CSV loading; ``baselines``, ``lm_predict``, ``metrics``,
``evaluate`` and ``plots`` the evaluation.
"""
