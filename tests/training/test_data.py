import pytest
from PIL import Image

from datarecipes.models.conversations import BadSampleError
from datarecipes.training.data import prompt_dataset, sft_dataset


def _record(i, image="img.png", turns=None):
    return {"id": f"r{i}", "image": image, "answer": "red",
            "conversations": turns or [{"from": "human", "value": "<image>\nWhat colour?"},
                                       {"from": "gpt", "value": "red"}]}


@pytest.fixture
def root(tmp_path):
    Image.new("RGB", (56, 56), "red").save(tmp_path / "img.png")
    (tmp_path / "broken.png").write_bytes(b"garbage")
    return tmp_path


def test_bad_records_are_skipped_and_counted(root, caplog):
    records = [_record(0), _record(1, image="broken.png"),
               _record(2, turns=[{"from": "human", "value": "<image>\nno answer"}]), _record(3)]
    ds, log = sft_dataset(records, str(root), on_bad_sample="skip")
    assert len(ds) == 2 and log.skipped == 2 and log.total == 4
    assert "skipped 2 of 4" in caplog.text and "broken.png" in caplog.text
    assert ds[0]["completion"][0]["role"] == "assistant"
    assert ds[0]["images"][0].size == (56, 56)  # decoded lazily from the path


def test_bad_records_can_be_fatal_naming_the_item(root):
    with pytest.raises(BadSampleError, match="broken.png"):
        sft_dataset([_record(0), _record(1, image="broken.png")], str(root), on_bad_sample="error")
    no_answer = _record(7, turns=[{"from": "human", "value": "<image>\nq"}])
    with pytest.raises(BadSampleError, match="r7.*no assistant turn"):
        sft_dataset([no_answer], str(root), on_bad_sample="error")


def test_empty_dataset_is_an_error(root):
    with pytest.raises(BadSampleError, match="no usable rows"):
        sft_dataset([], str(root))
    with pytest.raises(BadSampleError, match="no usable rows"):
        prompt_dataset([_record(0, image="broken.png")], str(root))


def test_multi_turn_records_supervise_every_answer(root):
    turns = [{"from": "human", "value": "<image>\nColour?"}, {"from": "gpt", "value": "red"},
             {"from": "human", "value": "Shape?"}, {"from": "gpt", "value": "circle"}]
    ds, _ = sft_dataset([_record(0, turns=turns)], str(root))
    assert len(ds) == 2
    assert len(ds[1]["prompt"]) == 3 and ds[1]["completion"][0]["content"][0]["text"] == "circle"


def test_text_only_messages_records():
    records = [{"id": "t", "messages": [{"role": "user", "content": "1+1?"},
                                        {"role": "assistant", "content": "2"}]}]
    ds, _ = sft_dataset(records)
    assert "images" not in ds.column_names and ds[0]["completion"][0]["content"] == "2"
    prompts, _ = prompt_dataset(records)
    assert prompts[0]["answer"] == "2" and prompts[0]["prompt"][-1]["role"] == "user"
