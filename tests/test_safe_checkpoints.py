"""Loading checkpoints and their files (issue #26): a checkpoint missing a piece its config promises is refused, naming
the piece and the checkpoint; broken JSON, wrong field types and the wrong kind of model name the file and field."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from llava_nb.smallworld.backbones import BACKBONES_MANIFEST, check_backbones, check_backbones_format, nano_backbones
from llava_nb.cli import main as cli_main
from llava_nb.model.hf import load_model
from llava_nb.model.lora import apply_lora, merge_lora
import llava_nb.model.llava as M
from llava_nb.model.llava import LlavaModel
from llava_nb.model.config import CONFIG_NAME
from llava_nb.model.parts import load_llm, load_vision_tower
from llava_nb.tiny import save_tiny_parts

NANO = Path(__file__).resolve().parents[1] / "data" / "nano"


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return save_tiny_parts(tmp_path_factory.mktemp("parts"))


def _trained(model):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.projector.parameters():
            p.normal_(0, 0.3)
    return model


@pytest.fixture(scope="module")
def full(parts, tmp_path_factory):
    "A stage-2 checkpoint with the whole LLM, and the LLM's logits on a few ids."
    model = _trained(LlavaModel.from_parts(parts["vision"], parts["llm"]))
    with torch.no_grad():
        for p in model.llm.parameters():
            p.mul_(1.05)  # the trained LLM differs from the base one
    return model.save_pretrained(tmp_path_factory.mktemp("full") / "ckpt", stage=2)


@pytest.fixture(scope="module")
def lora(parts, tmp_path_factory):
    "A stage-2 checkpoint whose llm/ holds LoRA adapters."
    model = apply_lora(_trained(LlavaModel.from_parts(parts["vision"], parts["llm"])), r=2)
    with torch.no_grad():
        for n, p in model.llm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    return model.save_pretrained(tmp_path_factory.mktemp("lora") / "ckpt", stage=2)


def copy(ckpt, tmp_path, name="copy") -> Path:
    return Path(shutil.copytree(ckpt, tmp_path / name))


def edit_config(ckpt: Path, change) -> None:
    cfg = json.loads((ckpt / CONFIG_NAME).read_text())
    change(cfg)
    (ckpt / CONFIG_NAME).write_text(json.dumps(cfg))


def as_legacy(ckpt: Path) -> None:
    "What a checkpoint saved before config.json recorded its parts looks like."
    edit_config(ckpt, lambda c: c["llava_nb"].pop("holds", None))


# ---------------------------------------------------------------- what a checkpoint promises is there


def test_config_records_what_the_checkpoint_holds(full, lora, parts, tmp_path):
    holds = lambda ck: json.loads((ck / CONFIG_NAME).read_text())["llava_nb"]["holds"]
    assert holds(full) == {"llm": "weights", "vision_tower": "weights"}
    assert holds(lora) == {"llm": "lora", "vision_tower": "weights"}
    model = LlavaModel.from_parts(parts["vision"], parts["llm"])
    assert holds(model.save_pretrained(tmp_path / "s1", stage=1)) == {"llm": None, "vision_tower": None}
    # stage 2 saved without the LLM on purpose (it was frozen): the record says so, and it loads with the base LLM
    ck = model.save_pretrained(tmp_path / "frozen", stage=2, save_llm=False)
    assert holds(ck) == {"llm": None, "vision_tower": "weights"}
    assert M.check_checkpoint(ck)[1] == {"llm": None, "vision_tower": "weights"}
    LlavaModel.from_pretrained(ck)


@pytest.mark.parametrize("legacy", [False, True])
def test_stage2_without_its_llm_folder_is_refused(full, tmp_path, legacy):
    ck = copy(full, tmp_path)
    if legacy:
        as_legacy(ck)
    shutil.rmtree(ck / "llm")
    with pytest.raises(FileNotFoundError) as e:
        load_model(ck)
    msg = str(e.value)
    assert f"{ck} is not a complete llava_nb checkpoint" in msg and f"{ck / 'llm'} not found" in msg
    assert "base LLM" in msg  # what loading anyway would have done


@pytest.mark.parametrize("legacy", [False, True])
def test_stage2_llm_folder_without_its_config_is_refused(full, tmp_path, legacy):
    ck = copy(full, tmp_path)
    if legacy:
        as_legacy(ck)
    (ck / "llm" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=f"{ck / 'llm' / 'config.json'} not found"):
        LlavaModel.from_pretrained(ck)


def test_ask_on_a_checkpoint_without_its_llm_is_one_line_naming_it(full, tmp_path, capsys):
    ck = copy(full, tmp_path)
    shutil.rmtree(ck / "llm")
    assert cli_main(["ask", "--checkpoint", str(ck), "--max-new-tokens", "2", "What is it?"]) == 2
    err = capsys.readouterr().err
    assert f"{ck / 'llm'} not found" in err and "Traceback" not in err


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("gone", ["llm", "llm/adapter_config.json", "llm/adapter_model.safetensors"])
def test_lora_checkpoint_without_its_adapters_is_refused(lora, tmp_path, legacy, gone):
    ck = copy(lora, tmp_path)
    if legacy:
        as_legacy(ck)
    target = ck / gone
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(FileNotFoundError, match=f"{ck} is not a complete llava_nb checkpoint.*{target} not found"):
        LlavaModel.from_pretrained(ck)


def test_lora_checkpoint_whose_adapters_are_replaced_by_weights_is_refused(lora, full, tmp_path):
    ck = copy(lora, tmp_path)
    shutil.rmtree(ck / "llm")
    shutil.copytree(full / "llm", ck / "llm")
    with pytest.raises(FileNotFoundError, match="config.json says it holds LoRA adapters, but it holds full weights"):
        LlavaModel.from_pretrained(ck)


def test_merge_lora_names_the_missing_adapter_config(lora, tmp_path):
    ck = copy(lora, tmp_path)
    gone = ck / "llm" / "adapter_config.json"
    gone.unlink()
    with pytest.raises(FileNotFoundError, match=f"not a complete llava_nb checkpoint.*{gone} not found"):
        merge_lora(ck, tmp_path / "merged")  # not "holds no LoRA adapters: nothing to merge"


@pytest.mark.parametrize("gone", ["tokenizer_config.json", "tokenizer.json", "preprocessor_config.json"])
def test_checkpoint_without_its_tokenizer_or_image_processor_is_refused(full, tmp_path, gone):
    ck = copy(full, tmp_path)
    (ck / gone).unlink()
    with pytest.raises(FileNotFoundError, match=f"{ck} is not a complete llava_nb checkpoint.*{ck / gone} not found"):
        LlavaModel.from_pretrained(ck)


def test_every_missing_piece_is_named_at_once(full, tmp_path):
    ck = copy(full, tmp_path)
    for f in ("projector.safetensors", "tokenizer_config.json", "vision_tower/model.safetensors"):
        (ck / f).unlink()
    with pytest.raises(FileNotFoundError) as e:
        LlavaModel.from_pretrained(ck)
    for f in ("projector.safetensors", "tokenizer_config.json", "vision_tower/model.safetensors"):
        assert f"{ck / f} not found" in str(e.value)


def test_shipped_checkpoint_loads_and_without_llm_is_refused(tmp_path):
    ck = copy(NANO / "llava", tmp_path)  # saved before config.json recorded its parts
    assert M.check_checkpoint(ck)[1] == {"llm": "weights", "vision_tower": "weights"}
    shutil.rmtree(ck / "llm")
    with pytest.raises(FileNotFoundError, match=f"{ck / 'llm'} not found"):
        M.check_checkpoint(ck)


# ---------------------------------------------------------------- JSON the loader reads, and its fields


@pytest.mark.parametrize("text", ["{stage: 2", "", '{"llava_nb": {"format": 1}, "vision_tower": "a"'])
def test_config_that_is_not_json_names_the_file(full, tmp_path, text):
    ck = copy(full, tmp_path)
    (ck / CONFIG_NAME).write_text(text)
    with pytest.raises(ValueError, match=f"{ck / CONFIG_NAME} is not valid JSON"):
        load_model(ck)


def test_config_that_is_not_an_object_names_the_file(full, tmp_path):
    ck = copy(full, tmp_path)
    (ck / CONFIG_NAME).write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"{ck / CONFIG_NAME} must hold a JSON object, not a list"):
        LlavaModel.from_pretrained(ck)  # (llava_nb.model.hf.load_model first asks it for a model_type: see the report)


@pytest.mark.parametrize(
    "change, msg",
    [
        (lambda c: c["llava_nb"].update(format="3"), "llava_nb.format must be an integer, not '3'"),
        (lambda c: c.update(llava_nb="1"), "llava_nb must be an object, not '1'"),
        (lambda c: c.update(stage="2"), "stage must be an integer, not '2'"),
        (lambda c: c.update(vision_feature_layer=-2.0), "vision_feature_layer must be an integer, not -2.0"),
        (lambda c: c.update(stage=True), "stage must be an integer, not True"),
        (lambda c: c.update(llm=7), "llm must be a string, not 7"),
        (lambda c: c.update(image_grid_pinpoints="336"), "image_grid_pinpoints must be a list or null"),
        (lambda c: c["llava_nb"].update(holds={"llm": "all"}), "llava_nb.holds.llm must be 'weights', 'lora' or null"),
    ],
)
def test_config_field_of_the_wrong_type_names_field_and_file(full, tmp_path, change, msg):
    ck = copy(full, tmp_path)
    edit_config(ck, change)
    with pytest.raises(ValueError) as e:
        load_model(ck)
    assert str(e.value).startswith(f"{ck / CONFIG_NAME}: ") and msg in str(e.value)


@pytest.mark.parametrize("where", ["", "llm"])
def test_cut_tokenizer_json_names_the_file(full, parts, tmp_path, where):
    if where == "":  # the checkpoint's own tokenizer
        ck = copy(full, tmp_path)
        f = ck / "tokenizer.json"
        load = lambda: LlavaModel.from_pretrained(ck)
    else:  # a base LLM's, through from_parts
        base = Path(shutil.copytree(parts["llm"], tmp_path / "llm"))
        f = base / "tokenizer.json"
        load = lambda: LlavaModel.from_parts(parts["vision"], base)
    text = f.read_text()
    f.write_text(text[: len(text) // 2])  # an interrupted copy
    with pytest.raises(ValueError, match=f"{f} is not valid JSON"):
        load()


def test_part_config_that_is_not_json_names_the_file(full, tmp_path):
    ck = copy(full, tmp_path)
    (ck / "llm" / "generation_config.json").write_text('{"bos_token_id": ')
    with pytest.raises(ValueError, match=f"{ck / 'llm' / 'generation_config.json'} is not valid JSON"):
        LlavaModel.from_pretrained(ck)


def test_adapter_config_that_is_not_json_names_the_file(lora, tmp_path):
    ck = copy(lora, tmp_path)
    (ck / "llm" / "adapter_config.json").write_text('{"r": 2,')
    with pytest.raises(ValueError, match=f"{ck / 'llm' / 'adapter_config.json'} is not valid JSON"):
        LlavaModel.from_pretrained(ck)


# ---------------------------------------------------------------- the wrong kind of model


def test_llm_that_is_a_vision_tower_is_refused(parts):
    with pytest.raises(ValueError, match=f"{parts['vision']} holds a 'clip_vision_model' model .*not a causal"):
        load_llm(parts["vision"])
    with pytest.raises(ValueError, match=f"{parts['vision']} holds a 'clip_vision_model'"):
        LlavaModel.from_parts(parts["vision"], parts["vision"])


def test_train_set_llm_to_a_vision_folder_is_one_line(parts, tmp_path, capsys):
    from llava_nb.train.cli import main as train_main

    fix = Path(__file__).resolve().parents[1] / "data" / "fixtures"
    argv = ["--stage", "1", "--set", f"data_path={fix / 'blip_laion_cc_sbu_558k.json'}", "--set",
            f"image_folder={fix / 'images'}", "--set", f"output_dir={tmp_path / 'out'}", "--set",
            f"vision_tower={parts['vision']}", "--set", f"llm={parts['vision']}", "--set", "max_steps=1"]
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    assert f"{parts['vision']} holds a 'clip_vision_model' model" in err and "Traceback" not in err


def test_vision_tower_that_is_an_llm_is_refused(parts):
    with pytest.raises(ValueError, match=f"{parts['llm']} holds a 'llama' causal language model, not a vision tower"):
        load_vision_tower(parts["llm"])


# ---------------------------------------------------------------- the nano backbones' manifest and configs


def _backbones(tmp_path) -> Path:
    root = tmp_path / "nano"
    for part in ("vision", "llm"):
        shutil.copytree(NANO / part, root / part)
    shutil.copy(NANO / BACKBONES_MANIFEST, root)
    return root


def test_backbones_format_of_the_wrong_type_names_field_and_file(tmp_path):
    root = _backbones(tmp_path)
    (root / BACKBONES_MANIFEST).write_text(json.dumps({"format": "3"}))
    with pytest.raises(ValueError, match=f"{root / BACKBONES_MANIFEST}: format must be an integer, not '3'"):
        check_backbones_format(root)


@pytest.mark.parametrize("file", [BACKBONES_MANIFEST, "vision/config.json", "llm/config.json"])
def test_backbones_json_that_is_not_json_names_the_file(tmp_path, file):
    root = _backbones(tmp_path)
    (root / file).write_text('{"format": ')
    with pytest.raises(ValueError, match=f"{root / file} is not valid JSON"):
        nano_backbones(root)
    if file != BACKBONES_MANIFEST:
        with pytest.raises(ValueError, match=f"{root / file} is not valid JSON"):
            check_backbones(root / "vision", root / "llm")
