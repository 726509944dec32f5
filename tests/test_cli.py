"""The `llava-nb` console script, run as users run it: ask and export-hf (DESIGN.md contracts)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_checkpoint
from matplotlib import cbook
from transformers import AutoProcessor, LlavaForConditionalGeneration

from llava_nb.data.records import load_image
from llava_nb.model.llava import LlavaModel

CLI = str(Path(sys.executable).parent / "llava-nb")
IMG = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


def run(*args, ok=True):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("cli"))


def test_ask_prints_answer_last_and_is_greedy(ckpt):
    a = run("ask", "--checkpoint", ckpt, "--image", IMG, "--max-new-tokens", "8", "Who is this?")
    b = run("ask", "--checkpoint", ckpt, "--image", IMG, "--max-new-tokens", "8", "Who is this?")
    last = a.stdout.strip().splitlines()[-1]
    assert last and a.stdout == b.stdout  # greedy: deterministic
    expected = LlavaModel.from_pretrained(ckpt).answer(str(IMG), "Who is this?", max_new_tokens=8).strip()
    assert last == expected.splitlines()[-1]


def test_ask_sampling_with_seed_is_repeatable(ckpt):
    args = ("ask", "--checkpoint", ckpt, "--image", IMG, "--max-new-tokens", "8", "--temperature", "1.0", "--top-p", "0.9", "--seed", "3", "Hi?")
    assert run(*args).stdout == run(*args).stdout


def test_export_hf_then_transformers_answers_like_ask(ckpt, tmp_path):
    out = tmp_path / "hf"
    run("export-hf", "--checkpoint", ckpt, "--out", out)
    hf = LlavaForConditionalGeneration.from_pretrained(out).eval()
    proc = AutoProcessor.from_pretrained(out)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Who is this?"}]}]
    prompt = proc.apply_chat_template(msgs, add_generation_prompt=True)
    inputs = proc(images=load_image(IMG), text=prompt, return_tensors="pt")
    ids = hf.generate(**inputs, max_new_tokens=8, do_sample=False)[0, inputs["input_ids"].shape[1]:]
    hf_answer = proc.tokenizer.decode(ids, skip_special_tokens=True).strip()
    ours = run("ask", "--checkpoint", ckpt, "--image", IMG, "--max-new-tokens", "8", "Who is this?").stdout.strip()
    assert ours == hf_answer
    # the exported directory also works as a checkpoint for `ask`
    assert run("ask", "--checkpoint", out, "--image", IMG, "--max-new-tokens", "8", "Who is this?").stdout.strip() == ours


def test_clear_errors(ckpt, tmp_path):
    p = run("ask", "--checkpoint", tmp_path / "missing", "hi", ok=False)
    assert p.returncode == 2 and "not a checkpoint" in p.stderr and "Traceback" not in p.stderr
    p = run("ask", "--checkpoint", ckpt, "--image", tmp_path / "nope.jpg", "hi", ok=False)
    assert p.returncode == 2 and "nope.jpg" in p.stderr


def test_training_modules_import_without_ipython():
    "A GPU server often has no IPython: the trainer, model, eval and CLI must import without it (only notebook views need it)."
    code = ("import importlib.abc, sys\n"
            "class NoIPython(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] == 'IPython': raise ImportError('IPython is not installed')\n"
            "sys.meta_path.insert(0, NoIPython())\n"
            "import llava_nb.train.loop, llava_nb.model.llava, llava_nb.data.masking, llava_nb.smallworld.evaluate, llava_nb.smallworld.quickstart, llava_nb.cli, llava_nb.model.lora\n"
            "print('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_export_hf_never_writes_over_a_checkpoint_or_a_full_directory(ckpt, tmp_path):
    before = (ckpt / "config.json").read_text()
    p = run("export-hf", "--checkpoint", ckpt, "--out", ckpt, ok=False)
    assert p.returncode == 2 and "is the checkpoint itself" in p.stderr and "Traceback" not in p.stderr
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "notes.txt").write_text("mine")
    p = run("export-hf", "--checkpoint", ckpt, "--out", tmp_path / "hf", ok=False)
    assert p.returncode == 2 and "not an empty directory" in p.stderr and "--overwrite" in p.stderr
    assert (ckpt / "config.json").read_text() == before and (tmp_path / "hf" / "notes.txt").read_text() == "mine"
    p = run("export-hf", "--checkpoint", ckpt, "--out", tmp_path / "hf", "--overwrite", ok=False)  # not ours: kept
    assert p.returncode == 2 and "llava_nb did not write it" in p.stderr
    assert (tmp_path / "hf" / "notes.txt").read_text() == "mine"
    run("export-hf", "--checkpoint", ckpt, "--out", tmp_path / "hf2")
    run("export-hf", "--checkpoint", ckpt, "--out", tmp_path / "hf2", "--overwrite")  # an earlier export: replaced
    assert json.loads((tmp_path / "hf2" / "config.json").read_text())["model_type"] == "llava"


def test_a_bad_config_file_is_one_line_naming_it_and_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "cfg.json"
    bad.write_text("{stage: 1")
    p = run("train", "--config", bad, ok=False)
    assert p.returncode == 2 and f"{bad} is not a JSON TrainConfig" in p.stderr and "Traceback" not in p.stderr
    bad.write_text('{"stage": 1, "learning_rate": 0.1}')
    p = run("train", "--config", bad, ok=False)
    assert p.returncode == 2 and "'learning_rate' is not a TrainConfig field" in p.stderr
    p = run("--debug", "train", "--config", bad, ok=False)
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_ask_refuses_an_empty_question_and_warns_about_a_stage1_checkpoint(ckpt, tmp_path):
    p = run("ask", "--checkpoint", ckpt, "   ", ok=False)
    assert p.returncode == 2 and "the question is empty" in p.stderr and "Traceback" not in p.stderr
    stage1 = LlavaModel.from_pretrained(ckpt).save_pretrained(tmp_path / "s1", stage=1)
    p = run("ask", "--checkpoint", stage1, "--max-new-tokens", "3", "What is it?")
    assert "stage-1 checkpoint" in p.stderr and "warning" in p.stderr
    assert "stage-1" not in run("ask", "--checkpoint", ckpt, "--max-new-tokens", "3", "What is it?").stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_a_device_that_is_not_here_is_one_line(ckpt):
    p = run("ask", "--checkpoint", ckpt, "--device", "cuda", "What is it?", ok=False)
    assert p.returncode == 2 and "no CUDA GPU" in p.stderr and "Traceback" not in p.stderr
    p = run("ask", "--checkpoint", ckpt, "--device", "gpu", "What is it?", ok=False)
    assert p.returncode == 2 and "'gpu' is not a device name" in p.stderr


def test_train_into_an_output_dir_that_is_a_file_is_one_line(tmp_path):
    f = tmp_path / "out"
    f.write_text("my notes")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"stage": 1, "data_path": "x.json", "output_dir": str(f)}))
    p = run("train", "--config", cfg, ok=False)
    assert p.returncode == 2 and f"output_dir {f} is a file" in p.stderr and "Traceback" not in p.stderr
    assert f.read_text() == "my notes"


def test_a_question_longer_than_the_context_is_refused_with_both_lengths(ckpt):
    context = json.loads((ckpt / "llm" / "config.json").read_text())["max_position_embeddings"]
    p = run("ask", "--checkpoint", ckpt, "--max-new-tokens", "4", "why " * (10 * context), ok=False)
    assert p.returncode == 2 and f"the model's context is {context}" in p.stderr and "Traceback" not in p.stderr


def test_weights_cut_short_are_refused_naming_the_file(ckpt, tmp_path):
    import shutil
    cut = shutil.copytree(ckpt, tmp_path / "cut")
    for f in (cut / "projector.safetensors", cut / "llm" / "model.safetensors"):
        data = f.read_bytes()
        f.write_bytes(data[: len(data) - 64])  # an interrupted copy
        p = run("ask", "--checkpoint", cut, "What is it?", ok=False)
        assert p.returncode == 2 and f"{f} is cut short" in p.stderr and "Traceback" not in p.stderr
        f.write_bytes(data)
    (cut / "projector.safetensors").write_bytes(b"\x00" * 4)
    p = run("ask", "--checkpoint", cut, "What is it?", ok=False)
    assert p.returncode == 2 and "is not a safetensors file" in p.stderr


def test_weights_that_do_not_fit_their_config_are_one_line(ckpt, tmp_path):
    import shutil
    bad = shutil.copytree(ckpt, tmp_path / "bad")
    cfg = json.loads((bad / "llm" / "config.json").read_text())
    (bad / "llm" / "config.json").write_text(json.dumps({**cfg, "hidden_size": 2 * cfg["hidden_size"]}))
    p = run("ask", "--checkpoint", bad, "What is it?", ok=False)
    assert p.returncode == 2 and f"{bad / 'llm'}: the weights do not fit its config.json" in p.stderr
    assert "Traceback" not in p.stderr
