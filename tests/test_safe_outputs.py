"""Output folders (issue #26): a run, the quickstart, ship_checkpoint and export-hf delete or replace only folders they
can prove they wrote (the marker file they leave in each, or for folders from before the marker, llava_nb's own files);
anything else is refused, naming the folder and what to do, and is left as it was."""
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import tiny_checkpoint

from llava_nb.files import OWNER_NAME, atomic_dir, check_owned, mark_owned, owner
from llava_nb.model.hf import export_hf
from llava_nb.model.llava import LlavaModel
from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart, ship_checkpoint
from llava_nb.tiny import save_tiny_parts
from llava_nb.train.loop import TrainResult, train
from llava_nb.train.config import TrainConfig

FIX = Path(__file__).resolve().parents[1] / "data" / "fixtures"
PRETRAIN = str(FIX / "blip_laion_cc_sbu_558k.json")
CLI = str(Path(sys.executable).parent / "llava-nb")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return save_tiny_parts(tmp_path_factory.mktemp("parts"))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def cfg1(parts, out, **kw):
    base = dict(stage=1, data_path=PRETRAIN, image_folder=str(FIX / "images"), output_dir=str(out),
                vision_tower=parts["vision"], llm=parts["llm"], lr=1e-2, batch_size=4, max_steps=2, progress=False)
    return TrainConfig(**{**base, **kw})


def users_folder(path, name="notes.txt"):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text("mine")
    return path


def markers(root):
    return {str(p.parent.relative_to(root)): json.loads(p.read_text())["kind"] for p in Path(root).rglob(OWNER_NAME)}


def unmark(root):
    "What a run written before the marker existed looks like."
    for p in Path(root).rglob(OWNER_NAME):
        p.unlink()


# --- the rule --------------------------------------------------------------------------------------------------------

def test_the_rule_new_empty_or_ours(tmp_path):
    assert check_owned(tmp_path / "new", "run", "x") == tmp_path / "new"  # not there: ours to create
    (tmp_path / "empty").mkdir()
    check_owned(tmp_path / "empty", "run", "x")  # empty: nothing to lose
    with pytest.raises(FileExistsError, match=r"mine .*llava_nb did not write.*give another one"):
        check_owned(users_folder(tmp_path / "mine"), "run", "give another one")
    mark_owned(tmp_path / "ours", "checkpoint")
    assert owner(tmp_path / "ours") == "checkpoint"
    check_owned(tmp_path / "ours", "checkpoint", "x")
    with pytest.raises(FileExistsError, match=r"ours is a llava_nb checkpoint, not a training run's output_dir"):
        check_owned(tmp_path / "ours", "run", "x")


def test_atomic_dir_never_replaces_a_folder_it_did_not_write(tmp_path):
    mine = users_folder(tmp_path / "final")
    with pytest.raises(FileExistsError, match="final"):
        with atomic_dir(mine) as t:
            (t / "config.json").write_text("{}")
    assert (mine / "notes.txt").read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["final"]
    with atomic_dir(tmp_path / "ok") as t:
        (t / "a.txt").write_text("1")
    assert owner(tmp_path / "ok") == "checkpoint"  # what it writes carries the marker: a later save may replace it
    with atomic_dir(tmp_path / "ok") as t:
        (t / "a.txt").write_text("2")
    assert (tmp_path / "ok" / "a.txt").read_text() == "2"


# --- case 1: training runs -------------------------------------------------------------------------------------------

def test_a_run_never_replaces_a_final_folder_of_the_users_files(parts, tmp_path):
    out = tmp_path / "OUT"
    users_folder(out / "final")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=rf"{out} .*llava_nb did not write.*another output_dir"):
            train(cfg1(parts, out, overwrite=overwrite))
    assert (out / "final" / "notes.txt").read_text() == "mine" and sorted(p.name for p in out.iterdir()) == ["final"]


def test_a_run_folder_of_the_users_files_is_refused_untouched(parts, tmp_path):
    out = users_folder(tmp_path / "project", "history.json")
    with pytest.raises(FileExistsError, match="project"):
        train(cfg1(parts, out))
    assert [p.name for p in out.iterdir()] == ["history.json"] and (out / "history.json").read_text() == "mine"


def test_train_cli_set_output_dir_over_users_files_is_one_line(parts, tmp_path):
    out = tmp_path / "OUT"
    users_folder(out / "final")
    cfg = tmp_path / "train.json"
    cfg.write_text(cfg1(parts, tmp_path / "elsewhere").to_json())
    p = subprocess.run([CLI, "train", "--config", str(cfg), "--set", f"output_dir={out}", "--overwrite"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert str(out) in p.stderr and "move it away" in p.stderr
    assert (out / "final" / "notes.txt").read_text() == "mine"


def test_a_run_marks_what_it_writes_and_reruns_reuse_resume_and_overwrite(parts, tmp_path):
    out = tmp_path / "run"
    cfg = cfg1(parts, out, save_every=1)
    first = train(cfg)
    assert markers(out) == {".": "run", "final": "checkpoint", "checkpoint-000001": "checkpoint"}
    assert train(cfg, reuse=True).model is None  # reused, not retrained
    again = train(replace(cfg, lr=1e-3, overwrite=True))
    assert again.history != first.history and TrainResult.load(out).history == again.history
    assert train(replace(cfg, lr=1e-3, resume_from=str(out / "checkpoint-000001"))).steps == 2


def test_overwrite_never_deletes_a_checkpoint_folder_the_run_did_not_write(parts, tmp_path):
    out = tmp_path / "run"
    cfg = cfg1(parts, out, save_every=1)
    train(cfg)
    shutil.rmtree(out / "checkpoint-000001")
    users_folder(out / "checkpoint-000001")  # the user's own folder, under a name a run writes
    with pytest.raises(FileExistsError, match=r"checkpoint-000001 .*llava_nb did not write"):
        train(replace(cfg, lr=1e-3, overwrite=True))
    assert (out / "checkpoint-000001" / "notes.txt").read_text() == "mine"


def test_pruning_deletes_only_step_checkpoints_the_run_wrote(parts, tmp_path):
    out = tmp_path / "run"
    cfg = cfg1(parts, out, max_steps=3, save_every=1, save_total_limit=1)
    train(cfg)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-000002"]
    users_folder(out / "checkpoint-notes")  # not a name a run writes: not the run's to prune
    train(replace(cfg, lr=1e-3, overwrite=True))
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-000002", "checkpoint-notes"]
    assert (out / "checkpoint-notes" / "notes.txt").read_text() == "mine"


def test_runs_from_before_the_marker_still_count_as_ours(parts, tmp_path):
    out = tmp_path / "old"
    cfg = cfg1(parts, out, save_every=1)
    first = train(cfg)
    unmark(out)
    assert train(cfg, reuse=True).model is None  # recognised by its checkpoints' config.json: reused...
    assert markers(out)["."] == "run"  # ... and marked from now on
    unmark(out)
    again = train(replace(cfg, lr=1e-3, overwrite=True))  # ... and replaced when told
    assert again.history != first.history and markers(out)["final"] == "checkpoint"


def test_a_run_may_not_write_into_a_checkpoint_or_an_export(ckpt, parts, tmp_path):
    with pytest.raises(FileExistsError, match="is a llava_nb checkpoint, not a training run's output_dir"):
        train(cfg1(parts, ckpt))  # e.g. output_dir=data/nano/llava


# --- case 1: the quickstart ------------------------------------------------------------------------------------------

SMALL = QuickstartConfig(n_train=8, n_test=2, vqa_per_scene=1, examples=1, stage1_epochs=0.5, stage2_epochs=0.5)


@pytest.fixture(scope="module")
def backbones(parts):
    return Path(parts["llm"]).parent  # tiny/vision + tiny/llm: the backbones layout


def test_quickstart_never_deletes_a_train_run_in_its_stage_folder(parts, backbones, tmp_path):
    out = tmp_path / "DIR"
    run = train(cfg1(parts, out / "stage1", save_every=1))
    before = sorted(p.name for p in (out / "stage1").iterdir())
    with pytest.raises(FileExistsError, match=rf"{out} .*llava_nb did not write.*another --out"):
        quickstart(out, SMALL, backbones=backbones, say=lambda *a: None)
    mark_owned(out, "quickstart")  # even inside a quickstart's folder, a stage it did not write is not its to replace
    with pytest.raises(FileExistsError, match=r"stage1 is a training run's output_dir, not a quickstart stage"):
        quickstart(out, SMALL, backbones=backbones, say=lambda *a: None)
    assert sorted(p.name for p in (out / "stage1").iterdir()) == before
    assert TrainResult.load(out / "stage1").history == run.history


def test_quickstart_reruns_reuse_its_own_stages_and_old_ones(backbones, tmp_path):
    out = tmp_path / "qs"
    s = quickstart(out, SMALL, backbones=backbones, say=lambda *a: None)
    assert markers(out) == {".": "quickstart", "stage1": "quickstart-stage", "stage1/final": "checkpoint",
                            "stage2": "quickstart-stage", "stage2/final": "checkpoint"}
    unmark(out)  # a quickstart folder from before the marker
    quickstart(out, SMALL, backbones=backbones, say=lambda *a: None)
    for stage in ("stage1", "stage2"):  # reused, not retrained, and marked from now on
        assert "reusing the finished run" in (out / stage / "train.log").read_text()
        assert markers(out)[stage] == "quickstart-stage"
    assert markers(out)["."] == "quickstart"
    changed = quickstart(out, replace(SMALL, stage2_lr=1e-2), backbones=backbones, say=lambda *a: None)
    assert "reusing" not in (out / "stage2" / "train.log").read_text()  # its own stage: retrained when changed
    assert TrainResult.load(out / "stage2").config.lr == 1e-2 and changed["stage2"]["inputs"] == s["stage2"]["inputs"]


def test_ship_checkpoint_never_writes_into_the_users_folder(ckpt, tmp_path):
    mine = users_folder(tmp_path / "mine")
    with pytest.raises(FileExistsError, match="mine"):
        ship_checkpoint(ckpt, mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    shipped = ship_checkpoint(ckpt, tmp_path / "shipped")
    (shipped / "stale.txt").write_text("from an earlier ship")
    unmark(shipped)  # like data/nano/llava: a checkpoint from before the marker, recognised by its config.json
    ship_checkpoint(ckpt, shipped)
    assert not (shipped / "stale.txt").exists() and owner(shipped) == "checkpoint"


# --- case 2: export-hf -----------------------------------------------------------------------------------------------

def test_export_overwrite_replaces_an_earlier_export_cleanly(ckpt, tmp_path):
    model = LlavaModel.from_pretrained(ckpt)
    out = export_hf(model, tmp_path / "hf")
    (out / "projector.safetensors").write_text("left over")
    export_hf(model, out, overwrite=True)
    assert not (out / "projector.safetensors").exists() and owner(out) == "export"
    unmark(out)  # an export from before the marker: recognised by its llava_nb.json beside a llava config
    (out / "stale.txt").write_text("x")
    export_hf(model, out, overwrite=True)
    assert not (out / "stale.txt").exists() and owner(out) == "export"


def test_export_overwrite_refuses_a_checkpoint_or_the_users_files(ckpt, tmp_path):
    model = LlavaModel.from_pretrained(ckpt)
    other = tiny_checkpoint(tmp_path / "other")
    files = sorted(p.name for p in other.iterdir())
    with pytest.raises(FileExistsError, match=r"is a llava_nb checkpoint, not an export-hf folder.*another --out"):
        export_hf(model, other, overwrite=True)
    assert sorted(p.name for p in other.iterdir()) == files and not (other / "llava_nb.json").exists()
    mine = users_folder(tmp_path / "mine")
    with pytest.raises(FileExistsError, match=r"not an empty directory.*llava_nb did not write.*--overwrite"):
        export_hf(model, mine, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_export_hf_cli_overwrite_onto_a_checkpoint_is_one_line(ckpt, tmp_path):
    other = tiny_checkpoint(tmp_path / "other")
    p = subprocess.run([CLI, "export-hf", "--checkpoint", str(ckpt), "--out", str(other), "--overwrite"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "llava_nb checkpoint" in p.stderr, p.stderr
    assert not (other / "llava_nb.json").exists()
