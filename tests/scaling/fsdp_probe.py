"""GPU check of ``conf/gpu/accelerate/fsdp.yaml`` (run by hand on a GPU machine, not in CI):

    accelerate launch --config_file conf/gpu/accelerate/fsdp.yaml --num_processes <gpus> \
        tests/scaling/fsdp_probe.py <out dir>

Trains a small Qwen2 (built from a config, no download) for a few steps under the launch
config, gathers the full state dict (the config's FULL_STATE_DICT), saves it from rank 0 as
an ordinary transformers checkpoint, reloads it unsharded and writes ``fsdp_probe.json`` with
the losses and whether the reloaded model reproduces the trained one's logits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import Qwen2Config, Qwen2ForCausalLM


def main() -> None:
    out = Path(sys.argv[1])
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    config = Qwen2Config(vocab_size=512, hidden_size=128, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model, optimizer = accelerator.prepare(model, optimizer)
    ids = torch.randint(0, 512, (4, 32), generator=torch.Generator().manual_seed(1))
    ids = ids.to(accelerator.device)
    losses = []
    for _ in range(8):
        loss = model(input_ids=ids, labels=ids).loss
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.item()))
    model.eval()
    with torch.no_grad():
        trained_logits = model(input_ids=ids).logits.float().cpu()
    state = accelerator.get_state_dict(model)  # collective: every rank takes part
    n_tensors = len(state)  # save_pretrained consumes the dict
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(out / "ckpt", state_dict=state)
        reloaded = Qwen2ForCausalLM.from_pretrained(out / "ckpt", dtype=torch.float32).eval()
        with torch.no_grad():
            logits = reloaded.to(ids.device)(input_ids=ids).logits.float().cpu()
        report = {
            "distributed_type": str(accelerator.distributed_type),
            "num_processes": accelerator.num_processes,
            "mixed_precision": accelerator.mixed_precision,
            "wrapped_as": type(model).__name__,
            "losses": losses,
            "saved_tensors": n_tensors,
            "max_abs_logit_diff": float((logits - trained_logits).abs().max()),
        }
        (out / "fsdp_probe.json").write_text(json.dumps(report, indent=1))
        print(json.dumps(report))
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main()
