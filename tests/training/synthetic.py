"""A built-in learnable task: images of coloured shapes with questions the image answers.

Used by the tests (SFT must beat the majority answer), the benchmark and the GPU smoke test.
Deterministic for a seed; written in LLaVA format with images by path.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 60, 220),
           "yellow": (230, 210, 20)}
COLOUR_QUESTION = "What colour is the shape?"
COUNT_QUESTION = "How many shapes are there?"


def _draw(rng: random.Random, colour: str, count: int, size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    cell = size // 2
    cells = rng.sample([(0, 0), (1, 0), (0, 1), (1, 1)], count)
    for cx, cy in cells:
        # Each shape fills its quadrant: a quadrant is one merged vision token at the default
        # 56 px, so colour and count are plainly visible to a tiny randomly initialised tower.
        r = cell // 2 - 1
        x = cx * cell + cell // 2
        y = cy * cell + cell // 2
        box = [x - r, y - r, x + r, y + r]
        if rng.random() < 0.5:
            draw.ellipse(box, fill=COLOURS[colour])
        else:
            draw.rectangle(box, fill=COLOURS[colour])
    return image


def write_shapes_dataset(
    root: str | Path, n: int, seed: int = 0, size: int = 56, split: str = "train"
) -> list[dict[str, Any]]:
    """Write ``n`` images under ``root/images`` and return LLaVA records (also written to
    ``root/<split>.json``). Half the questions ask the colour, half the count (1-3)."""
    rng = random.Random(seed)
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        colour = rng.choice(sorted(COLOURS))
        count = rng.randint(1, 3)
        name = f"images/{split}_{i:05d}.png"
        _draw(rng, colour, count, size).save(root / name)
        asks_colour = i % 2 == 0
        question, answer = (COLOUR_QUESTION, colour) if asks_colour else (COUNT_QUESTION,
                                                                          str(count))
        records.append({
            "id": f"{split}_{i:05d}",
            "image": name,
            "question_type": "colour" if asks_colour else "count",
            "answer": answer,
            "conversations": [
                {"from": "human", "value": f"<image>\n{question}"},
                {"from": "gpt", "value": f"\\boxed{{{answer}}}"},
            ],
        })
    (root / f"{split}.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    return records
