"""Hard-sample selection: ThinkLite's MCTS rule and the controls it is compared with.

* ``mcts``: keep samples solved after more than ``iters_threshold`` iterations plus those never
  solved within the budget (maintainer's rule, ThinkLite-VL issue #4: ``iter > 5`` + unsolved).
* ``accuracy``: sample ``num_answers`` answers per question and keep questions with accuracy
  at most ``max_accuracy`` (the paper's baseline; its K and X are not published, ours are
  defaults to tune).
* ``random``: as many samples as ``mcts`` keeps, drawn with ``seed`` (the fair control).
* ``all``: every sample (the whole pool: the paper's 70k baseline).
* ``diverse``: as many samples as ``mcts`` keeps, chosen by greedy facility location
  (INGENIOUS, Renduchintala et al. 2023) among the samples that are hard by the looser
  ``candidate_iters_threshold``, so that the chosen set covers that candidate set's questions.
  With the same threshold the candidates *are* the mcts set and nothing would be chosen, so
  the candidate threshold must be lower (see :func:`facility_location`).
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datarecipes.config import parameters_section, require
from datarecipes.executors import Executor, LocalExecutor
from datarecipes.mcts.policy import Policy, StepRequest, derive_seed
from datarecipes.mcts.prompts import step_user_text
from datarecipes.mcts.samples import parse_samples
from datarecipes.mcts.search import AnswerMatchReward, Reward
from datarecipes.mcts.workers import as_factory, batch_rows, rows_frame

Strategy = Literal["mcts", "accuracy", "random", "all", "diverse"]


@parameters_section("hard_sample_selection")
@dataclass(frozen=True)
class SelectionParams:
    """Which samples go on to GRPO training."""

    #: ``mcts`` (ThinkLite), ``accuracy`` (baseline), ``random`` (same count as mcts), ``all``,
    #: ``diverse`` (same count as mcts, spread over a larger hard set).
    strategy: Strategy = "mcts"
    #: ``mcts``: keep samples solved at a 0-based iteration greater than this (and unsolved).
    #: ``random`` / ``diverse``: the count they keep is the mcts count at this threshold.
    iters_threshold: int = 5
    #: ``diverse``: the candidate set is solved at an iteration greater than this (and unsolved);
    #: must be below ``iters_threshold`` so there is more to choose from than the count
    #: (-1: every searched sample is a candidate).
    candidate_iters_threshold: int = 0
    #: ``accuracy``: answers sampled per question (K).
    num_answers: int = 8
    #: ``accuracy``: keep questions whose accuracy over the K answers is at most this (X).
    max_accuracy: float = 0.25
    #: ``accuracy``: sampling temperature of the K answers.
    temperature: float = 0.5
    #: ``accuracy``: nucleus mass of the K answers.
    top_p: float = 0.9
    #: ``accuracy``: token limit of one full answer.
    max_answer_tokens: int = 1024
    #: ``random``: seed of the draw (and of the accuracy sampling); ``diverse``: of the order in
    #: which tied gains are broken.
    seed: int = 0

    def __post_init__(self) -> None:
        require(
            self.iters_threshold >= 0,
            f"iters_threshold must be >= 0, got {self.iters_threshold}",
        )
        require(
            self.candidate_iters_threshold >= -1,
            f"candidate_iters_threshold must be >= -1, got {self.candidate_iters_threshold}",
        )
        require(
            self.strategy != "diverse" or self.candidate_iters_threshold < self.iters_threshold,
            "diverse: candidate_iters_threshold must be below iters_threshold "
            f"({self.candidate_iters_threshold} >= {self.iters_threshold}); with the same "
            "threshold the candidates are exactly the mcts set",
        )
        require(self.num_answers >= 1, f"num_answers must be >= 1, got {self.num_answers}")
        require(
            0 <= self.max_accuracy <= 1,
            f"max_accuracy must be in [0, 1], got {self.max_accuracy}",
        )
        require(self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        require(0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}")
        require(
            self.max_answer_tokens >= 1,
            f"max_answer_tokens must be >= 1, got {self.max_answer_tokens}",
        )


def answer_accuracy(
    rows: Sequence[Mapping[str, Any]],
    policy: Policy | Callable[[], Policy],
    config: SelectionParams,
    *,
    batch_size: int = 16,
    reward: Reward | Callable[[], Reward] | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Per-question accuracy of ``num_answers`` sampled full answers (one call per batch).

    ``policy`` / ``reward``: objects or zero-argument factories, built once per ``executor``
    worker (default: this process). Samples are seeded by the batch's question ids, so a batch
    gives the same answers on any executor. Returns ``sample_id``, ``accuracy`` (NaN for bad
    input) and ``skip_reason``.
    """
    if not rows:
        return pd.DataFrame({"sample_id": [], "accuracy": [], "skip_reason": []})
    executor = executor if executor is not None else LocalExecutor()
    fn_factory = functools.partial(
        _accuracy_scorer, as_factory(policy, "generate_steps"), config,
        as_factory(reward, "score"),
    )
    out = executor.map_batches(fn_factory, rows_frame(rows), batch_size=batch_size,
                               desc="answer accuracy")
    return pd.DataFrame(
        {
            "sample_id": [str(r.get("sample_id")) for r in rows],
            "accuracy": out["accuracy"].astype(float).to_numpy(),
            "skip_reason": out["skip_reason"].tolist(),
        }
    )


def _accuracy_scorer(
    policy_factory: Callable[[], Policy],
    config: SelectionParams,
    reward_factory: Callable[[], Reward | None],
) -> Callable[[Mapping[str, Any]], dict[str, np.ndarray]]:
    """The batch function of one executor worker: builds policy and reward once."""
    policy = policy_factory()
    reward = reward_factory() or AnswerMatchReward()

    def score(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        samples, reasons = parse_samples(batch_rows(batch))
        accuracy = np.full(len(samples), np.nan)
        valid = [(i, s) for i, s in enumerate(samples) if s is not None]
        if valid:
            k = config.num_answers
            requests = [
                StepRequest(
                    s.sample_id, step_user_text(s.question), s.image,
                    seed=derive_seed(config.seed, s.sample_id, "accuracy"),
                )
                for _, s in valid
            ]
            outs = policy.generate_steps(
                requests, n=k, temperature=config.temperature, top_p=config.top_p,
                max_new_tokens=config.max_answer_tokens, stop=None,
                seed=derive_seed(config.seed, "accuracy", *(s.sample_id for _, s in valid)),
            )
            flat = [(s, (g.text,)) for (_, s), gens in zip(valid, outs) for g in gens]
            scores = reward.score([s for s, _ in flat], [t for _, t in flat], config.seed)
            for j, (i, _) in enumerate(valid):
                accuracy[i] = float(np.mean(scores[j * k : (j + 1) * k]))
        return {"accuracy": accuracy, "skip_reason": np.asarray(reasons, dtype=object)}

    return score


def _scored(table: pd.DataFrame) -> pd.DataFrame:
    """Rows that were actually scored (bad input set aside)."""
    if "skip_reason" not in table:
        return table
    return table[table["skip_reason"].isna()]


def mcts_hard_mask(difficulty: pd.DataFrame, iters_threshold: int) -> pd.Series:
    """ThinkLite's rule: solved late (``iters > threshold``) or not solved at all."""
    iters = difficulty["iters"].astype("Float64")
    return (~difficulty["solved"].astype(bool)) | (iters > iters_threshold).fillna(False)


def select_hard_samples(
    samples: pd.DataFrame,
    config: SelectionParams,
    *,
    difficulty: pd.DataFrame | None = None,
    accuracy: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The rows of ``samples`` (keyed by ``sample_id``) kept by ``config.strategy``.

    ``mcts`` and ``random`` need the ``difficulty`` table of :func:`run_mcts_difficulty`;
    ``accuracy`` needs the table of :func:`answer_accuracy`. Samples flagged as bad input by
    the scoring are never kept. The difficulty/accuracy columns are joined onto the result.
    """
    table = samples.copy()
    table["sample_id"] = table["sample_id"].astype(str)
    for name, extra in (("difficulty", difficulty), ("accuracy", accuracy)):
        if extra is None:
            continue
        extra = extra.copy()
        extra["sample_id"] = extra["sample_id"].astype(str)
        missing = set(table["sample_id"]) - set(extra["sample_id"])
        if missing:
            raise ValueError(f"{name} table lacks sample ids {sorted(missing)[:5]}")
        extra = _scored(extra).drop(columns=["skip_reason", "question_type"], errors="ignore")
        table = table.merge(extra, on="sample_id", how="inner", suffixes=("", f"_{name}"))
    strategy = config.strategy
    if strategy in ("mcts", "random", "diverse") and difficulty is None:
        raise ValueError(f"strategy {strategy!r} needs the MCTS difficulty table")
    if strategy == "accuracy" and accuracy is None:
        raise ValueError("strategy 'accuracy' needs the answer-accuracy table")
    if strategy == "all":
        keep = pd.Series(True, index=table.index)
    elif strategy == "accuracy":
        keep = table["accuracy"] <= config.max_accuracy
    else:
        keep = mcts_hard_mask(table, config.iters_threshold)
        if strategy == "random":
            rng = np.random.default_rng(config.seed)
            chosen = rng.choice(len(table), size=int(keep.sum()), replace=False)
            keep = pd.Series(False, index=table.index)
            keep.iloc[np.sort(chosen)] = True
        elif strategy == "diverse":
            candidates = np.flatnonzero(
                mcts_hard_mask(table, config.candidate_iters_threshold).to_numpy())
            if "question" not in table:
                raise ValueError("strategy 'diverse' needs the samples' 'question' column")
            features = question_features(table["question"].iloc[candidates].astype(str))
            chosen = facility_location(features, int(keep.sum()), seed=config.seed)
            keep = pd.Series(False, index=table.index)
            keep.iloc[np.sort(candidates[chosen])] = True
    return table[keep.to_numpy()].reset_index(drop=True)


def question_features(questions: Sequence[str]) -> Any:
    """L2-normalised TF-IDF of the question text (word 1–2-grams), a sparse matrix.

    Why text only: ProVision's questions are generated from the image's scene graph, so they
    already name its objects, attributes and relations — what a picture embedding would tell
    apart — and TF-IDF is exact, deterministic and instant on a CPU (no encoder to download).
    INGENIOUS uses a learnt encoder's embeddings; a CLIP image feature could be concatenated
    here where one is configured.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(questions) == 0:
        return np.zeros((0, 0))
    try:
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
                               norm="l2").fit_transform(list(questions))
    except ValueError as err:  # e.g. every question empty: no vocabulary
        raise ValueError(f"diverse: cannot embed the {len(questions)} candidate questions "
                         f"by TF-IDF ({err})") from err


def facility_location(features: Any, count: int, *, seed: int = 0) -> np.ndarray:
    """Indices of ``count`` rows chosen greedily to maximise the facility-location function
    ``F(S) = sum_i max_{j in S} sim(i, j)`` over every row ``i`` (cosine similarity of the
    L2-normalised, non-negative ``features``, so ``F`` is monotone submodular and the greedy
    choice is within ``1 - 1/e`` of the best set, as INGENIOUS uses it).

    Each step adds the row whose similarity raises the coverage of all rows most, so a cluster
    already represented gains little and the next pick goes to an uncovered one. Ties (e.g.
    duplicate questions) are broken in an order drawn with ``seed``. The similarity is a dense
    ``n × n`` matrix: fine for the thousands of questions of a hard set (5 000: 200 MB); the
    paper's 70k pool would need a sparse or partitioned version.
    """
    n = features.shape[0]
    if not 0 <= count <= n:
        raise ValueError(f"facility_location: count must be in [0, {n}], got {count}")
    sim = features @ features.T
    sim = np.asarray(sim.todense() if hasattr(sim, "todense") else sim, dtype=np.float64)
    sim = np.clip(sim, 0.0, None)
    order = np.random.default_rng(seed).permutation(n)
    # Row k of ``columns`` is candidate order[k]'s similarity to every row: contiguous for the
    # per-candidate gains below. Ties go to the smaller k, i.e. the seeded order.
    columns = np.ascontiguousarray(sim[:, order].T)
    covered = np.zeros(n)
    chosen: list[int] = []
    # Lazy greedy (Minoux 1978): a candidate's gain only shrinks as the set grows, so a stale
    # gain is an upper bound; recompute only the top of the heap. Same picks as plain greedy,
    # a few recomputations per step instead of n.
    heap = [(-float(g), k) for k, g in enumerate(columns.sum(axis=1))]
    heapq.heapify(heap)
    while len(chosen) < count:
        _, k = heapq.heappop(heap)
        gain = float(np.maximum(columns[k] - covered, 0.0).sum())
        if not heap or (-gain, k) <= heap[0]:
            chosen.append(k)
            covered = np.maximum(covered, columns[k])
        else:
            heapq.heappush(heap, (-gain, k))
    return order[np.asarray(chosen, dtype=int)]


def selection_report(
    selected: pd.DataFrame, num_candidates: int, max_iterations: int
) -> tuple[dict[str, float], Figure, Figure]:
    """Flat metrics, the difficulty histogram and the question-type shares of ``selected``.

    The histogram counts solved samples per ``iters`` (0 … max_iterations - 1) with unsolved
    samples as their own last bar.
    """
    n = len(selected)
    metrics: dict[str, float] = {
        "num_selected": float(n),
        "num_candidates": float(num_candidates),
        "selected_fraction": n / num_candidates if num_candidates else 0.0,
    }
    hist = Figure(figsize=(8, 3.5))
    ax = hist.add_subplot()
    if "iters" in selected:
        solved = selected["solved"].astype(bool)
        counts = np.bincount(
            selected.loc[solved, "iters"].astype(int).to_numpy(), minlength=max_iterations
        )[:max_iterations]
        unsolved = int((~solved).sum())
        ax.bar(range(max_iterations), counts, color="tab:blue", label="solved at iteration")
        ax.bar([max_iterations + 1], [unsolved], color="tab:red", label="unsolved")
        ax.set_xticks([0, max_iterations // 2, max_iterations - 1, max_iterations + 1])
        ax.set_xticklabels(["0", str(max_iterations // 2), str(max_iterations - 1), "unsolved"])
        ax.legend()
        metrics["num_unsolved"] = float(unsolved)
        metrics["mean_iters_solved"] = (
            float(selected.loc[solved, "iters"].astype(float).mean()) if solved.any() else 0.0
        )
    else:
        ax.text(0.5, 0.5, "no MCTS difficulty for this selection", ha="center")
    ax.set_xlabel("MCTS iterations to solve")
    ax.set_ylabel("samples")
    ax.set_title(f"Difficulty of the {n} selected samples")

    types = selected.get("question_type")
    types = (
        types.fillna("unknown").astype(str) if types is not None else pd.Series(["unknown"] * n)
    )
    shares = types.value_counts(normalize=True).sort_index()
    for name, share in shares.items():
        metrics[f"share_type/{name}"] = float(share)
    bars = Figure(figsize=(6, 3.5))
    bx = bars.add_subplot()
    bx.bar(list(shares.index), shares.to_numpy(), color="tab:green")
    bx.set_ylabel("share of selected samples")
    bx.set_title("Question types in the selection")
    bx.tick_params(axis="x", labelrotation=30)
    return metrics, hist, bars
