"""Run under ``accelerate launch``: each rank reports what the project's rank guard reads.

Every rank writes ``rank<i>.json`` with its ``RANK``/``WORLD_SIZE`` environment and the result
of an all-reduce; only the main process appends to ``main.jsonl`` (the pattern the tracking hook
and the catalog's saves follow under accelerate).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from accelerate import Accelerator


def main() -> None:
    out = Path(sys.argv[1])
    # On a machine without GPUs, gloo on the CPU (the trainer does the same with use_cpu).
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    total = accelerator.reduce(torch.tensor([accelerator.process_index + 1.0]), reduction="sum")
    report = {
        "RANK": os.environ.get("RANK"),
        "LOCAL_RANK": os.environ.get("LOCAL_RANK"),
        "WORLD_SIZE": os.environ.get("WORLD_SIZE"),
        "process_index": accelerator.process_index,
        "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type),
        "sum": float(total.item()),
    }
    (out / f"rank{accelerator.process_index}.json").write_text(json.dumps(report))
    if int(os.environ.get("RANK", "0")) == 0:  # the project's rank guard
        with open(out / "main.jsonl", "a") as fh:  # appended: a second writer would show
            fh.write(json.dumps({"writer": accelerator.process_index}) + "\n")
    accelerator.wait_for_everyone()
    # Tear the gloo group down before exit: left to interpreter shutdown, its threads are
    # sometimes destroyed while still joinable ("terminate called without an active
    # exception", SIGABRT in rank 0).
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
