"""Issue #26, numeric and config options: each is checked in one place, which the CLI, the Python API and the server
share, and a bad value is refused with the option's name (never trained on, never a traceback)."""
import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from llava_nb.cli import build_parser
from llava_nb.train.cli import _train_arguments, config_from_args
from llava_nb.train.config import TrainConfig

CLI = str(Path(sys.executable).parent / "llava-nb")


def run_cli(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def parse_error(capsys, *argv) -> str:
    "What `llava-nb ARGV` says when argparse refuses it (exit 2 before anything runs)."
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([str(a) for a in argv])
    assert e.value.code == 2
    return capsys.readouterr().err


# --- TrainConfig: every numeric field has one range, checked when the config is made --------------------------------

BAD_FIELDS = [
    ("max_grad_norm", -1),  # the harmful one: clip_grad_norm_ with a negative norm negates every gradient
    ("max_grad_norm", 0),
    ("max_grad_norm", math.nan),
    ("log_every", 0),
    ("epochs", math.inf),
    ("epochs", math.nan),
    ("epochs", 0),
    ("batch_size", 0),
    ("grad_accum", 0),
    ("global_batch_size", 0),
    ("save_every", -1),
    ("save_total_limit", 0),
    ("weight_decay", -1),
    ("weight_decay", math.inf),
    ("lr", 0),
    ("lr", -1e-3),
    ("lr", math.inf),
    ("projector_lr", -1),
    ("max_length", 0),
    ("max_samples", 0),
    ("lora_alpha", 0),
    ("lora_dropout", 1.0),
    ("lora_dropout", -0.1),
    ("seed", -1),
    ("seed", 2**32),
    ("num_workers", -1),
    ("num_threads", 0),
    ("max_steps", 0),
    ("max_skipped_steps", 0),
    ("pad_to_multiple_of", 0),
    ("warmup_ratio", 1.0),
    ("lora_r", -1),
]


@pytest.mark.parametrize("field,value", BAD_FIELDS)
def test_trainconfig_refuses_out_of_range_numbers_by_name(field, value):
    with pytest.raises(ValueError, match=rf"TrainConfig: {field} must be .*, not {value!r}"):
        TrainConfig(**{field: value})


def test_trainconfig_keeps_its_sensible_values():
    c = TrainConfig(max_grad_norm=math.inf, save_every=0, weight_decay=0.0, num_workers=0, seed=2**32 - 1, lora_r=0)
    assert (c.max_grad_norm, c.save_every, c.seed) == (math.inf, 0, 2**32 - 1)
    TrainConfig(save_total_limit=None, max_length=None, max_samples=None, num_threads=None, projector_lr=None)


def cli_config(*argv):
    return config_from_args(_train_arguments(argparse.ArgumentParser()).parse_args([str(a) for a in argv]))


@pytest.mark.parametrize("setting", ["max_grad_norm=-1", "log_every=0", "epochs=Infinity", "batch_size=0",
                                     "save_every=-1", "weight_decay=-1"])
def test_train_set_is_checked_by_the_dataclass(setting):
    field = setting.split("=")[0]
    with pytest.raises(ValueError, match=rf"the command line: TrainConfig: {field} must be"):
        cli_config("--set", setting)


def test_train_cli_refuses_negative_max_grad_norm_before_training(tmp_path):
    p = run_cli("train", "--preset", "nano", "--stage", "1", "--set", "max_grad_norm=-1",
                "--set", f"data_path={tmp_path / 'none.json'}", "--set", f"output_dir={tmp_path / 'run'}")
    assert p.returncode == 2, p.stderr
    assert "TrainConfig: max_grad_norm must be" in p.stderr and "not -1" in p.stderr
    assert not (tmp_path / "run").exists()


def test_a_config_file_with_bad_numbers_names_the_file(tmp_path):
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({"stage": 1, "log_every": 0}))
    with pytest.raises(ValueError, match=re.escape(f"{f}: TrainConfig: log_every must be at least 1, not 0")):
        cli_config("--config", f)


@pytest.mark.parametrize("content", ["[1, 2]", "null", "3", '"stage=1"'])
def test_a_config_file_must_hold_a_json_object(tmp_path, content):
    f = tmp_path / "cfg.json"
    f.write_text(content)
    with pytest.raises(ValueError, match=re.escape(f"{f}: a TrainConfig file must hold a JSON object")):
        cli_config("--config", f)


# --- overwrite: a decision of each command (or Python call), never saved in a config nor read from one ----------

def test_overwrite_is_never_saved():
    c = TrainConfig(stage=1, overwrite=True)
    assert "overwrite" not in c.to_dict() and "overwrite" not in json.loads(c.to_json())
    assert c.overwrite  # the Python call's own decision stands for this run
    assert "overwrite=True" in str(c)  # and the log says so


def test_overwrite_is_not_inherited_from_a_saved_config(tmp_path, capsys):
    old = TrainConfig(stage=1, output_dir=str(tmp_path / "stage1")).to_dict() | {"overwrite": True}  # old quickstart
    f = tmp_path / "train_config.json"
    f.write_text(json.dumps(old))
    assert TrainConfig.from_dict(old).overwrite is False
    cfg = cli_config("--config", f, "--set", f"output_dir={tmp_path / 'stage1'}")
    assert cfg.overwrite is False
    err = capsys.readouterr().err
    assert str(f) in err and "overwrite" in err and "--overwrite" in err  # a note says it was ignored
    assert cli_config("--config", f, "--overwrite").overwrite is True  # the command line decides


def test_overwrite_cannot_be_set_as_a_field():
    with pytest.raises(ValueError, match="--set overwrite=true: .*--overwrite"):
        cli_config("--set", "overwrite=true")


def test_rerun_from_a_quickstart_config_does_not_replace_final(tmp_path):
    "The harmful case end to end: a finished run whose saved config says overwrite, rerun into the same output_dir."
    from llava_nb.train.loop import train
    from llava_nb.train.cli import tiny_run_config

    first = tiny_run_config(TrainConfig(stage=1, overwrite=True, progress=False), tmp_path / "dry")
    res = train(first)
    saved = res.checkpoint / "train_config.json"
    d = json.loads(saved.read_text())
    assert "overwrite" not in d
    saved.write_text(json.dumps(d | {"overwrite": True}))  # what the quickstart used to save
    before = (res.checkpoint / "trainer_state.json").read_bytes()
    again = cli_config("--config", saved, "--set", f"output_dir={first.output_dir}", "--set", "lr=0.01")
    with pytest.raises(ValueError, match="earlier run's checkpoints"):
        train(again)
    assert (res.checkpoint / "trainer_state.json").read_bytes() == before


# --- generation options: one check for LlavaModel.generate / answer, ask, chat and serve ---------------------------

BAD_GENERATION = [
    ("max_new_tokens", "--max-new-tokens", -5, "an integer from 1 to 2147483647"),
    ("max_new_tokens", "--max-new-tokens", 0, "an integer from 1 to 2147483647"),
    ("temperature", "--temperature", -1.0, "a number from 0 to 2"),
    ("temperature", "--temperature", math.nan, "a number from 0 to 2"),
    ("temperature", "--temperature", math.inf, "a number from 0 to 2"),
    ("top_p", "--top-p", 5.0, "a number from 0 to 1"),
    ("top_p", "--top-p", -0.5, "a number from 0 to 1"),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from llava_nb.model.llava import LlavaModel
    from llava_nb.tiny import save_tiny_parts

    parts = save_tiny_parts(tmp_path_factory.mktemp("gen") / "parts")
    return LlavaModel.from_parts(parts["vision"], parts["llm"]).eval()


@pytest.mark.parametrize("name,flag,value,rule", BAD_GENERATION)
def test_python_api_refuses_bad_generation_options(model, name, flag, value, rule):
    with pytest.raises(ValueError, match=rf"^{name} must be {rule}, not {value!r}$"):
        model.answer(None, "Hello?", **{name: value})
    with pytest.raises(ValueError, match=rf"^{name} must be {rule}"):
        model.generate([[1, 2, 3]], **{name: value})


def test_python_api_refuses_a_seed_of_the_wrong_kind(model):
    with pytest.raises(ValueError, match=r"^seed must be an integer"):
        model.answer(None, "Hello?", seed=1.5)
    with pytest.raises(ValueError, match=r"^max_new_tokens must be an integer"):
        model.answer(None, "Hello?", max_new_tokens=True)


@pytest.mark.parametrize("command", ["ask", "chat"])
@pytest.mark.parametrize("name,flag,value,rule", BAD_GENERATION)
def test_ask_and_chat_refuse_bad_generation_options(capsys, command, name, flag, value, rule):
    question = ["question"] if command == "ask" else []
    err = parse_error(capsys, command, "--checkpoint", "nowhere", flag, value, *question)
    assert f"argument {flag}: must be {rule}, not {value!r}" in err


def test_ask_refuses_before_loading_a_model():
    p = run_cli("ask", "--checkpoint", "no-such-checkpoint", "--temperature", "-1", "Hi?")
    assert p.returncode == 2 and "argument --temperature: must be a number from 0 to 2, not -1.0" in p.stderr
    assert "no-such-checkpoint" not in p.stderr  # refused before any loading


def test_ask_still_takes_good_options(capsys):
    args = build_parser().parse_args(["ask", "--checkpoint", "c", "--temperature", "0.7", "--top-p", "0.9",
                                      "--max-new-tokens", "5", "--seed", "-3", "q"])
    assert (args.temperature, args.top_p, args.max_new_tokens, args.seed) == (0.7, 0.9, 5, -3)
    assert parse_error(capsys, "ask", "--checkpoint", "c", "--top-p", "high", "q").count("--top-p: must be a number")


@pytest.mark.parametrize("key,value", [("max_tokens", -5), ("max_completion_tokens", 0), ("temperature", -1),
                                       ("temperature", 9), ("top_p", 5), ("seed", 1.5)])
def test_serve_uses_the_same_check_and_wording(key, value):
    from llava_nb.model.generation import GenerationOptionError, check_generation
    from llava_nb.chat.protocol import ApiError, parse_request

    name = "max_new_tokens" if key.startswith("max_") else key
    with pytest.raises(GenerationOptionError) as lib:
        check_generation(**{name: value})
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi?"}], key: value}
    with pytest.raises(ApiError) as api:
        parse_request(body, "m")
    assert (api.value.status, api.value.param, api.value.code) == (400, key, "invalid_value")
    assert api.value.message == f"'{key}' {lib.value.requirement}"  # the OpenAI-style wording, the library's rule


# --- pretrain-backbones and quickstart numbers ------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--vision-minutes", "--llm-minutes"])
@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_pretrain_backbones_minutes_must_be_positive(capsys, flag, value):
    err = parse_error(capsys, "pretrain-backbones", "--out", "x", flag, value)
    assert f"argument {flag}: must be a finite number > 0" in err


def test_pretrain_backbones_keeps_good_minutes():
    a = build_parser().parse_args(["pretrain-backbones", "--out", "x", "--vision-minutes", "0.5", "--llm-minutes", "2"])
    assert (a.vision_minutes, a.llm_minutes) == (0.5, 2.0)


@pytest.mark.parametrize("given,passed", [
    ([], {}),
    (["--llm-continue-steps", "0"], {"llm_continue_steps": 0}),
    (["--llm-continue-phases", "1"], {"llm_continue_phases": 1}),
])
def test_pretrain_backbones_runs_the_shipped_second_phase_unless_told(monkeypatch, given, passed):
    "Without the flag the command leaves the second phase to `pretrain_backbones`, whose default is the shipped one."
    import inspect

    import llava_nb.smallworld.backbones as backbones

    shipped = inspect.signature(backbones.pretrain_backbones).parameters["llm_continue_steps"].default
    assert shipped == backbones.LLM_CONTINUE_STEPS > 0
    phases = inspect.signature(backbones.pretrain_backbones).parameters["llm_continue_phases"].default
    assert phases == len(backbones.LLM_LATER_PHASES) == 4  # the shipped recipe
    calls = []
    monkeypatch.setattr(backbones, "pretrain_backbones", lambda out, **kw: calls.append(kw) or {})
    args = build_parser().parse_args(["pretrain-backbones", "--out", "x", *given])
    args.func(args)
    assert {k: v for k, v in calls[0].items() if k.startswith("llm_continue")} == passed


@pytest.mark.parametrize("command", ["quickstart", "ablations"])
@pytest.mark.parametrize("flag,value,says", [
    ("--n-train", "0", "must be an integer >= 1"),
    ("--n-test", "-2", "must be an integer >= 1"),
    ("--instruct-per-scene", "0", "must be an integer >= 1"),
    ("--vqa-turns", "-1", "must be an integer >= 0"),
    ("--stage1-epochs", "-1", "must be a finite number > 0"),
    ("--stage2-epochs", "inf", "must be a finite number > 0"),
    ("--seed", "-1", "must be an integer from 0 to 4294967295"),
])
def test_quickstart_numbers_are_checked(capsys, command, flag, value, says):
    assert f"argument {flag}: {says}" in parse_error(capsys, command, "--out", "x", flag, value)


@pytest.mark.parametrize("mix,says", [("conversation", "has no '=WEIGHT'"), ("conversation=x", "is not a number"),
                                      ("conversation=-1", "must be a finite number >= 0"), ("detail=0", "no positive weight"),
                                      ("chat=1", "unknown instruction kind 'chat'")])
def test_quickstart_mix_is_checked_before_any_work(tmp_path, mix, says):
    from llava_nb.cli import cmd_quickstart

    with pytest.raises(ValueError, match=f"--mix {mix!r}: .*{re.escape(says)}"):
        cmd_quickstart(build_parser().parse_args(["quickstart", "--out", str(tmp_path / "qs"), "--mix", mix]))
    assert not (tmp_path / "qs").exists()


@pytest.mark.parametrize("kw", [{"vision_minutes": -1}, {"llm_minutes": 0}, {"vision_minutes": float("nan")}])
def test_pretrain_backbones_python_api_refuses_minutes_that_are_no_cap(tmp_path, kw):
    "None means no cap; -1 used to mean the same, silently (an hour of training)."
    from llava_nb.smallworld.backbones import pretrain_backbones

    with pytest.raises(ValueError, match=rf"{next(iter(kw))} must be a finite number > 0"):
        pretrain_backbones(tmp_path / "b", **kw)
    assert not (tmp_path / "b").exists()  # refused before anything is made


@pytest.mark.parametrize("steps", [-1, 1.5, True])
@pytest.mark.parametrize("name", ["llm_continue_steps", "llm_continue_phases"])
def test_pretrain_backbones_refuses_later_phases_that_are_no_count(tmp_path, steps, name):
    from llava_nb.smallworld.backbones import pretrain_backbones

    with pytest.raises(ValueError, match=f"{name} must be an integer >= 0"):
        pretrain_backbones(tmp_path / "b", **{name: steps})
    assert not (tmp_path / "b").exists()  # refused before an hour of pretraining, not after it


def test_fit_refuses_a_negative_budget_or_clip():
    import torch

    from llava_nb.smallworld.fit import fit

    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.1)
    loss = lambda step: {"loss": (w - 1).pow(2).sum()}
    with pytest.raises(ValueError, match="max_grad_norm must be a finite number > 0, not -1"):
        fit(loss, [w], opt, steps=2, lr=0.1, warmup=0, max_grad_norm=-1, verbose=False)
    with pytest.raises(ValueError, match="max_minutes must be a finite number > 0, not -1"):
        fit(loss, [w], opt, steps=2, lr=0.1, warmup=0, max_minutes=-1, verbose=False)


def test_serve_refuses_a_default_answer_length_it_could_never_use(capsys):
    "`serve --max-tokens 0` used to start a server that answered 400 to every request without max_tokens."
    err = parse_error(capsys, "serve", "--checkpoint", "c", "--max-tokens", "0")
    assert "argument --max-tokens: must be an integer from 1 to" in err


@pytest.mark.parametrize("kw", [{"n_train": 0}, {"vqa_turns": -1}, {"stage2_epochs": float("inf")}, {"stage1_lr": 0}])
def test_quickstart_config_is_checked_when_made(kw):
    "The Python API gets the same ranges as the quickstart's flags."
    from llava_nb.smallworld.quickstart import QuickstartConfig

    with pytest.raises(ValueError, match=rf"^{next(iter(kw))} must be "):
        QuickstartConfig(**kw)


@pytest.mark.parametrize("variety", ["1.5", "-0.1", "nan"])
def test_quickstart_variety_is_a_share(tmp_path, variety):
    from llava_nb.cli import cmd_quickstart

    with pytest.raises(ValueError, match="variety must be a share of the training scenes"):
        cmd_quickstart(build_parser().parse_args(["quickstart", "--out", str(tmp_path / "qs"), "--variety", variety]))
    assert not (tmp_path / "qs").exists()
    assert build_parser().parse_args(["quickstart", "--out", "x", "--variety", "0.5"]).variety == 0.5


@pytest.mark.parametrize("share", ["1.5", "-0.1", "nan"])
def test_quickstart_lone_references_is_a_chance(tmp_path, share):
    "A bad --lone-references is named before any data is written (the teacher's own check would name 'lone')."
    from llava_nb.cli import cmd_quickstart

    args = ["quickstart", "--out", str(tmp_path / "qs"), "--lone-references", share]
    with pytest.raises(ValueError, match="lone_references must be a chance, from 0 to 1"):
        cmd_quickstart(build_parser().parse_args(args))
    assert not (tmp_path / "qs").exists()
    assert build_parser().parse_args(["quickstart", "--out", "x", "--lone-references", "0"]).lone_references == 0.0
