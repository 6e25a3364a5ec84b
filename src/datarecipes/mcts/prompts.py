"""Step-format prompts for ThinkLite's MCTS, built with the processor's own chat template.

The policy writes one reasoning step per generation, ``### StepN: … <end>``, and finishes with
``### Final Answer: … \\boxed{…}`` (ThinkLite-VL ``mcts.py``: 2-shot CoT prompt). Previous steps
are the assistant turn being continued.

The reference builds that prompt by rendering the chat template with a generation prompt and
cutting 32 characters off the end (``[:-32]``), which removes Qwen's ``<|im_end|>\\n<|im_start|>
assistant\\n`` only for that one template, and for the first step (no history) cuts into the
user's own turn. Here the template is asked properly: ``add_generation_prompt=True`` for a fresh
assistant turn, ``continue_final_message=True`` to continue the steps written so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

#: ``reference`` = ThinkLite-VL's judge prompt / verdict rule; ``ours`` = the project's.
JudgeStyle = Literal["reference", "ours"]

#: Every generated step ends with this delimiter; generation stops right after it.
STEP_DELIMITER = "<end>"
#: A step containing this marker is the last one of a solution (terminal node).
FINAL_ANSWER_MARKER = "Final Answer:"

#: 2-shot chain-of-thought instruction in ThinkLite's step format (our own two examples).
FEW_SHOT_COT_INSTRUCTION = """\
Answer the question **step by step** and give the final answer at the end. End every step with \
**<end>** and put the final answer within $\\boxed{}$. Two examples:
Question: A baker sells 12 muffins on Monday and each following day sells 3 more than the day \
before. How many muffins are sold from Monday to Thursday?
### Step1: Daily sales form a sequence that starts at 12 and grows by 3, so I list the four \
days. <end>
### Step2: Monday 12, Tuesday 15, Wednesday 18, Thursday 21. <end>
### Step3: The total is 12 + 15 + 18 + 21 = 66. <end>
### Final Answer: The answer is: $\\boxed{66}$. <end>
Question: How many red triangles are in the figure?
### Step1: The figure shows triangles and squares in red and blue; I need shapes that are both \
red and triangular. <end>
### Step2: Two shapes are red triangles; the third red shape is a square. <end>
### Final Answer: The answer is: $\\boxed{2}$. <end>
Answer the question **step by step**! Here is the question:
"""

#: LLM-judge prompt (ThinkLite's judge: question, ground truth, rollout; one-sentence verdict).
JUDGE_TEMPLATE = """\
Judge whether the generated answer below is correct.
Question: {question}
Ground truth answer: {ground_truth}
Generated rationale and answer: {rollout}
Reply with exactly one sentence: "The generated answer is true." or \
"The generated answer is false."
"""


def step_user_text(question: str) -> str:
    """User turn of a step-format search: the 2-shot CoT instruction followed by the question."""
    return FEW_SHOT_COT_INSTRUCTION + question.strip()


#: ThinkLite-VL's judge prompt (``mcts.py``: ``eval_prompt_template``), byte for byte; filled
#: positionally with question, ground truth and the joined rollout. The reference sends it with
#: Qwen's default system prompt, which Qwen2.5's chat template adds when none is given.
REFERENCE_JUDGE_TEMPLATE = (
    "Please help me judge the correctness of the generated answer and the corresponding "
    "rationale. \n"
    "Question: {}\n"
    "Ground truth answer: {}\n"
    "Generated rationale and answer: {}\n"
    "Your output should only be one sentence: the generated answer is true or false."
)


def judge_user_text(question: str, ground_truth: str, steps: Sequence[str],
                    style: JudgeStyle = "ours") -> str:
    """User turn asking a judge model whether the rollout ``steps`` reach ``ground_truth``.

    ``reference``: ThinkLite's template with the question as given; ``ours``: a template that
    names the two allowed verdict sentences (fewer off-format verdicts), question stripped.
    """
    rollout = "".join(steps)
    if style == "reference":
        return REFERENCE_JUDGE_TEMPLATE.format(question, ground_truth, rollout)
    return JUDGE_TEMPLATE.format(
        question=question.strip(), ground_truth=ground_truth, rollout=rollout
    )


def judge_verdict(response: str, style: JudgeStyle = "ours") -> float:
    """1.0 when the judge's first sentence says true, else 0.0.

    ``reference`` is ThinkLite's rule exactly: ``'true' in response.split('.')[0]`` (case
    sensitive), so a judge that echoes "true or false" counts as a solve. ``ours`` lowercases
    and also requires that "false" is absent.
    """
    if style == "reference":
        return 1.0 if "true" in response.split(".")[0] else 0.0
    first = response.strip().split(".")[0].lower()
    return 1.0 if "true" in first and "false" not in first else 0.0


def is_terminal(steps: Sequence[str], max_steps: int) -> bool:
    """A solution is complete at a final-answer step or once it has ``max_steps`` steps."""
    return len(steps) >= max_steps or (bool(steps) and FINAL_ANSWER_MARKER in steps[-1])


def final_answer_text(steps: Sequence[str]) -> str | None:
    """Text from the last final-answer marker on (what the answer check reads), or None."""
    trace = "".join(steps)
    at = trace.rfind(FINAL_ANSWER_MARKER)
    return None if at < 0 else trace[at:]


def build_messages(user_text: str, steps: Sequence[str], with_image: bool) -> list[dict[str, Any]]:
    """Chat messages: one user turn (image first when given), then the steps as assistant turn."""
    if with_image:
        content: Any = [{"type": "image"}, {"type": "text", "text": user_text}]
    else:
        content = user_text
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if steps:
        text = "".join(steps)
        assistant: Any = [{"type": "text", "text": text}] if with_image else text
        messages.append({"role": "assistant", "content": assistant})
    return messages


def render_prompt(
    processor: Any, user_text: str, steps: Sequence[str] = (), with_image: bool = False
) -> str:
    """The prompt string for the next step, rendered by ``processor``'s chat template.

    ``processor`` is a tokenizer (text LMs) or a multimodal processor; both expose
    ``apply_chat_template``. With no steps yet the template opens a new assistant turn; with
    steps the assistant turn is left open so the model continues it.
    """
    messages = build_messages(user_text, steps, with_image)
    if steps:
        return processor.apply_chat_template(
            messages, tokenize=False, continue_final_message=True
        )
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
