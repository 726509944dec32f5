"ChatSession and the ipywidgets ChatUI, headless, on tiny saved models: prompts, streaming, stop, uploads, llava-hf directories, the terminal chat."
import argparse
import io
import threading
import time
from datetime import datetime, timezone

import pytest
import torch
from PIL import Image

from llava_nb.chat.session import ChatSession, _StepClock
from llava_nb.chat.terminal import add_chat_parser
from llava_nb.chat.widget import ChatUI, render_history
from llava_nb.smallworld.world import small_world_gallery
from llava_nb.core import RecordError
from llava_nb.model.hf import export_hf
from llava_nb.model.llava import LlavaModel
from llava_nb.smallworld.world import make_world
from llava_nb.tiny import save_tiny_parts


def _checkpoint(tmp, family):
    parts = save_tiny_parts(tmp / "parts", family=family)
    template = "vicuna_v1" if family == "llama" else "chatml"
    return LlavaModel.from_parts(parts["vision"], parts["llm"], template=template).save_pretrained(tmp / "ckpt", stage=2)


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def ckpt(request, tmp_path_factory):
    "Tiny checkpoints of both families (Llama + vicuna_v1; Qwen2 with tied embeddings + chatml): for the prompt and model checks."
    return _checkpoint(tmp_path_factory.mktemp(f"chat_{request.param}"), request.param)


@pytest.fixture(scope="module")
def ckpt1(tmp_path_factory):
    "One tiny checkpoint (Llama): for the UI, stop and CLI checks, which do not depend on the family."
    return _checkpoint(tmp_path_factory.mktemp("chat_one"), "llama")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("world")
    return [str(d / s["image"]) for s in make_world(d, 3)]


@pytest.fixture
def slow(ckpt1):
    "A session whose LLM sleeps 5 ms per call, so that a stop arrives mid-generation."
    chat = ChatSession.from_pretrained(ckpt1, max_new_tokens=300)
    handle = chat.model.llm.register_forward_pre_hook(lambda *a: time.sleep(0.005))
    yield chat
    handle.remove()


def png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO(); img.save(buf, format=fmt, **kw); return buf.getvalue()


def uploaded(name, data: bytes) -> tuple:
    return ({"name": name, "type": "", "size": len(data), "content": memoryview(data), "last_modified": datetime.now(timezone.utc)},)


# -- ChatSession

def test_prompts_follow_the_template_turn_after_turn(ckpt, world):
    chat = ChatSession.from_pretrained(ckpt, max_new_tokens=10)
    m = chat.model
    chat.set_image(world[0])
    history = []
    for q in ["What is in the picture?", "What color is it?", "Where is it?"]:
        turn = chat.ask(q)
        assert turn.answer == m.answer(world[0], q, history=history, max_new_tokens=10)
        assert turn.finish_reason in ("eos", "stop", "length") and 1 <= turn.n_tokens <= 10
        history.append((q, turn.answer))
    assert chat.history == history
    ids = chat.prompt_ids("And?")
    assert ids.count(m.image_token_id) == m.num_image_tokens  # one image, in the first turn only
    assert chat.prompt("And?").count("<image>") == 1


def test_text_only_chat(ckpt):
    chat = ChatSession.from_pretrained(ckpt, max_new_tokens=6)
    turn = chat.ask("Hello")
    assert turn.answer == chat.model.answer(None, "Hello", max_new_tokens=6)
    assert chat.model.image_token_id not in chat.prompt_ids("Again")


def test_stream_pieces_add_up_and_settings_override(ckpt, world):
    chat = ChatSession.from_pretrained(ckpt, world[1], max_new_tokens=20)
    pieces = list(chat.stream("Describe it.", temperature=0.9, top_p=0.8, seed=3))
    assert "".join(pieces) == chat.turns[-1].answer
    sampled = chat.turns[-1].answer
    chat.clear()
    assert chat.ask("Describe it.", temperature=0.9, top_p=0.8, seed=3).answer == sampled  # seeded sampling repeats
    with pytest.raises(ValueError, match="question is empty"): list(chat.stream(" "))  # errors reach the consumer


def test_a_seeded_session_regenerates_a_new_sample_and_replays_its_answers(ckpt, world):
    def answers():
        chat = ChatSession.from_pretrained(ckpt, world[1], max_new_tokens=12, temperature=1.5, seed=7)
        first = chat.ask("Describe it.").answer
        return first, chat.regenerate().answer
    first, again = answers()
    assert first != again                 # regenerate draws a new sample, not the same one from a fresh seed
    assert answers() == (first, again)    # a new session with the same seed replays both


def test_stop_from_another_thread_keeps_the_partial_answer(slow, world):
    slow.set_image(world[0])
    first, pieces = threading.Event(), []
    def on_piece(p): pieces.append(p); first.set()
    stopper = threading.Thread(target=lambda: (first.wait(10), slow.stop()))
    stopper.start()
    turn = slow.ask("Tell me a long story.", stream=on_piece)
    stopper.join()
    assert turn.finish_reason == "stopped"
    assert turn.answer == "".join(pieces) and turn.answer
    assert 1 <= turn.n_tokens < 300
    assert not slow.generating
    assert slow.ask("Short?", max_new_tokens=3).finish_reason != "stopped"  # the next question is not affected


def test_keyboard_interrupt_stops_like_stop(ckpt1, world):
    chat = ChatSession.from_pretrained(ckpt1, world[0], max_new_tokens=50)
    got = []
    def interrupt(p):
        got.append(p)
        if len(got) == 2: raise KeyboardInterrupt
    turn = chat.ask("Go on.", stream=interrupt)
    assert (turn.finish_reason, turn.answer) == ("stopped", "".join(got))


def test_errors_remove_the_turn_and_release_the_session(ckpt1, world):
    chat = ChatSession.from_pretrained(ckpt1, world[0], max_new_tokens=5)
    def boom(p): raise RuntimeError("display failed")
    with pytest.raises(RuntimeError, match="display failed"): chat.ask("Hi", stream=boom)
    assert chat.turns == [] and not chat.generating
    assert chat.ask("Hi").answer is not None


def test_busy_session_refuses_a_second_question(slow, world):
    slow.set_image(world[0])
    it = slow.stream("Tell me everything.")
    next(it)
    assert slow.generating
    with pytest.raises(RuntimeError, match="already generating"): slow.ask("Another?")
    with pytest.raises(RuntimeError, match="already generating"): slow.regenerate()
    it.close()  # leaving the iterator stops the generation
    assert not slow.generating and slow.turns[-1].finish_reason == "stopped"


def test_two_sessions_on_one_model_stop_independently(slow, world):
    other = ChatSession(slow.model, world[1], max_new_tokens=40)
    slow.set_image(world[0])
    it = slow.stream("Talk.")
    next(it)
    turn = other.ask("Meanwhile?")  # runs while `slow` generates on its thread
    it.close()
    assert turn.finish_reason != "stopped"
    assert slow.turns[-1].finish_reason == "stopped"


def test_regenerate_and_new_image(ckpt1, world):
    chat = ChatSession.from_pretrained(ckpt1, world[0], max_new_tokens=8)
    a = chat.ask("What is it?")
    b = chat.regenerate()
    assert (len(chat.turns), b.answer) == (1, a.answer)  # greedy: the same answer again
    chat.set_image(world[1])
    assert chat.turns == [] and chat.image_name == world[1]
    with pytest.raises(ValueError, match="nothing to regenerate"): chat.regenerate()


def test_step_clock_counts_llm_calls(ckpt, world):
    chat = ChatSession.from_pretrained(ckpt, world[0], max_new_tokens=7)
    turn = chat.ask("Count?")
    with _StepClock(chat.model.llm, threading.Event()) as clock:
        out = chat.model.generate([chat.prompt_ids("Count?")], pixel_values=chat.pixel_values, max_new_tokens=7)
    assert len(clock.times) == len(out.token_ids[0])  # prefill + one call per token after the first
    assert turn.ttft is not None and turn.ttft <= turn.seconds


@pytest.mark.parametrize("make, reason", [
    (lambda img: b"just some text", "not an image file"),
    (lambda img: png_bytes(img)[:150], "corrupt or truncated image"),
    (lambda img: b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "corrupt or truncated image|not an image file"),
])
def test_bad_image_bytes_raise_and_change_nothing(ckpt1, world, make, reason):
    chat = ChatSession.from_pretrained(ckpt1, world[0], max_new_tokens=4)
    chat.ask("Hi")
    with pytest.raises(RecordError, match=reason) as e: chat.set_image(make(Image.open(world[0])), name="up.png")
    assert "up.png" in str(e.value)
    assert (chat.image_name, len(chat.turns)) == (world[0], 1)


def test_decompression_bomb_is_refused(ckpt1, world, monkeypatch):
    chat = ChatSession.from_pretrained(ckpt1, max_new_tokens=4)
    data = png_bytes(Image.new("RGB", (200, 200), (9, 9, 9)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 40,000 pixels is now "too large"
    with pytest.raises(RecordError, match="decompression bomb"): chat.set_image(data, name="bomb.png")


@pytest.mark.parametrize("img, fmt", [
    (Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"),
    (Image.new("I;16", (40, 30), 40_000), "PNG"),
    (Image.new("LA", (40, 30), (128, 100)), "PNG"),
    (Image.new("1", (40, 30), 1), "PNG"),
    (Image.new("RGBA", (40, 30), (255, 0, 0, 0)), "WEBP"),
])
def test_unusual_modes_are_converted(ckpt1, img, fmt):
    chat = ChatSession.from_pretrained(ckpt1, max_new_tokens=4)
    out = chat.set_image(png_bytes(img, fmt), name=f"x.{fmt.lower()}")
    assert out.mode == "RGB" and chat.pixel_values.shape[0] == 1
    assert chat.ask("Hi").answer is not None


def test_llava_hf_directory(ckpt, world, tmp_path):
    ours = ChatSession.from_pretrained(ckpt, world[0], max_new_tokens=8)
    hf_dir = export_hf(ours.model, tmp_path / "hf")
    theirs = ChatSession.from_pretrained(hf_dir, world[0], max_new_tokens=8)
    for q in ["What is it?", "Sure?"]:
        assert theirs.ask(q).answer == ours.ask(q).answer


def test_attention_map(ckpt, world):
    chat = ChatSession.from_pretrained(ckpt, world[0], max_new_tokens=6)
    with pytest.raises(ValueError, match="no answers yet"): chat.attention_map()
    chat.ask("What?"); chat.ask("Where?")
    impl = chat.model.llm.config._attn_implementation
    maps = [chat.attention_map(0), chat.attention_map(-1)]
    side = int(chat.model.num_image_tokens ** 0.5)
    for a in maps:
        assert a.shape == (side, side) and torch.isclose(a.sum(), torch.tensor(1.0)) and (a >= 0).all()
    assert not torch.equal(maps[0], maps[1])
    assert chat.model.llm.config._attn_implementation == impl
    fig = chat.show_attention(0)
    assert len(fig.axes) == 2
    text_only = ChatSession(chat.model, max_new_tokens=3); text_only.ask("Hi")
    with pytest.raises(ValueError, match="no image"): text_only.attention_map()


# -- the widget

@pytest.fixture
def ui(ckpt1, world):
    return ChatUI(ChatSession.from_pretrained(ckpt1, max_new_tokens=8), gallery={"scene 1": world[0], "scene 2": world[1]})


def test_gallery_send_button_and_history_html(ui, world):
    assert "Pick an image" in ui.history.value and ui.look_button.disabled
    ui.gallery_buttons["scene 2"].click()
    assert ui.session.image_name == "scene 2" and ui.image.value[:4] == b"\x89PNG"
    ui.text.value = "What is <b>this</b>?"
    ui.send_button.click()
    assert ui.wait()
    turn = ui.session.turns[0]
    h = ui.history.value
    assert "What is &lt;b&gt;this&lt;/b&gt;?" in h  # questions are escaped, never rendered as HTML
    assert h.count('class="llava-user"') == 1 and h.count('data-done="true"') == 1
    assert turn.stats() in h.replace("&#x27;", "'")
    assert ui.text.value == "" and ui.stop_button.disabled and not ui.send_button.disabled
    assert ui.look_turn.options == (("1: What is <b>this</b>?", 0),) and not ui.look_button.disabled


def test_enter_sends(ui):
    ui.gallery_buttons["scene 1"].click()
    ui.text.value = "Enter?"
    ui.text._handle_custom_msg({"event": "submit"}, [])  # what the browser sends when Enter is pressed
    assert ui.wait()
    assert [t.question for t in ui.session.turns] == ["Enter?"]
    assert not ui.send("   ")  # nothing to send


def test_settings_reach_the_generation(ui):
    ui.gallery_buttons["scene 1"].click()
    ui.max_new_tokens.value, ui.temperature.value, ui.top_p.value = 2, 0.7, 0.5
    seen = {}
    ask = ui.session.ask
    ui.session.ask = lambda q, **kw: (seen.update(kw), ask(q, **kw))[1]
    ui.send("Short?"); ui.wait()
    assert {k: seen[k] for k in ("max_new_tokens", "temperature", "top_p")} == {"max_new_tokens": 2, "temperature": 0.7, "top_p": 0.5}
    assert ui.session.turns[-1].n_tokens <= 2


def test_stop_button_interrupts_and_the_chat_goes_on(slow, world):
    ui = ChatUI(slow, gallery={"scene 1": world[0]})
    ui.gallery_buttons["scene 1"].click()
    assert ui.send("Tell me everything.")
    deadline = time.time() + 10
    while not (slow.turns and slow.turns[-1].answer) and time.time() < deadline: time.sleep(0.01)
    assert ui.busy and not ui.stop_button.disabled and ui.send_button.disabled
    assert not ui.send("Again?")  # one answer at a time
    assert "Still answering" in ui.status.value
    ui.stop_button.click()
    assert ui.wait(10)
    turn = slow.turns[-1]
    assert turn.finish_reason == "stopped" and 0 < turn.n_tokens < 300
    assert "stopped" in ui.history.value and ui.stop_button.disabled
    ui.send("Short?"); ui.wait()
    assert len(slow.turns) == 2


def test_new_chat_while_generating(slow, world):
    ui = ChatUI(slow, gallery={"scene 1": world[0]})
    ui.gallery_buttons["scene 1"].click()
    ui.send("Tell me everything.")
    time.sleep(0.05)
    ui.new_button.click()
    assert not ui.busy and slow.turns == [] and "Pick an image" in ui.history.value
    assert slow.image is not None  # the image stays


@pytest.mark.parametrize("name, data, msg", [
    ("notes.txt", b"hello", "not an image file"),
    ("cut.png", None, "corrupt or truncated image"),
    ("huge.png", b"\x89PNG" + b"\0" * 3 * 2 ** 20, "larger than 2 MB"),
])
def test_bad_uploads_show_an_error_and_the_session_keeps_working(ui, world, name, data, msg):
    ui.max_upload_mb = 2
    ui.gallery_buttons["scene 1"].click()
    ui.send("First?"); ui.wait()
    data = data if data is not None else png_bytes(Image.open(world[0]))[:120]
    ui.upload.value = uploaded(name, data)
    assert f"Could not use {name}" in ui.error.value and msg in ui.error.value
    assert ui.upload.value == ()
    assert ui.session.image_name == "scene 1" and len(ui.session.turns) == 1
    ui.send("Second?"); ui.wait()
    assert len(ui.session.turns) == 2
    ui.upload.value = uploaded("fine.png", png_bytes(Image.open(world[1])))
    assert ui.error.value == "" and ui.session.image_name == "fine.png" and ui.session.turns == []


def test_decompression_bomb_upload(ui, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    ui.upload.value = uploaded("bomb.png", png_bytes(Image.new("RGB", (300, 300))))
    assert "bomb.png" in ui.error.value and "decompression bomb" in ui.error.value


def test_attention_panel(ui):
    ui.gallery_buttons["scene 1"].click()
    ui.send("What?"); ui.wait()
    ui.look_button.click()
    assert ui.look_image.value[:4] == b"\x89PNG"
    ui.new_chat()
    assert ui.look_image.value == b"" and ui.look_turn.options == ()


def test_render_history_live_marker():
    from llava_nb.chat.session import Turn
    h = render_history([Turn("q", "partial")], live=True)
    assert 'data-done="false"' in h and "generating…" in h


def test_gallery_has_scenes_and_a_photo(tmp_path):
    g = small_world_gallery(tmp_path, n=2)
    assert list(g) == ["scene 1", "scene 2", "photo"]
    assert all(Image.open(p).size for p in g.values())


# -- the terminal chat

def test_terminal_chat(ckpt1, world, tmp_path):
    p = argparse.ArgumentParser(prog="llava-nb"); add_chat_parser(p.add_subparsers(dest="command"))
    hf_dir = export_hf(ChatSession.from_pretrained(ckpt1).model, tmp_path / "hf")
    for path in (ckpt1, hf_dir):
        args = p.parse_args(["chat", "--checkpoint", str(path), "--image", world[0], "--max-new-tokens", "6", "--device", "cpu"])
        out, err = io.StringIO(), io.StringIO()
        script = f"What is it?\n\n/image {world[1]}\nAnd this?\n/quit\nnot read\n"
        chat = args.func(args, stdin=io.StringIO(script), stdout=out, stderr=err)
        assert [t.question for t in chat.turns] == ["And this?"]
        assert out.getvalue().endswith(chat.turns[0].answer + "\n")
        assert f"image: {world[1]}" in err.getvalue() and "tokens" in err.getvalue()
