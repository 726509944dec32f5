"""What a workshop does with the chat window, through the page in Chromium (used by test_chat_browser.py).

`workshop(page, tmp_path)` expects a page showing the tutorial's `ChatUI` with one finished answer about "scene 1".
Every check reads what the browser shows: the <img> elements' own pictures, the bubbles, the buttons' state.
With `LLAVA_NB_UPDATE_SCREENSHOTS=1` the widget's screenshots are also written, small, to nbs/tutorials/images/.
"""
import base64
import io
import os
import time
from pathlib import Path

from matplotlib import cbook
from PIL import Image, ImageChops, ImageStat

IMAGES = Path(__file__).resolve().parents[1] / "nbs" / "tutorials" / "images"
PHOTO = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))  # a real photograph, shipped offline
UPDATE = os.environ.get("LLAVA_NB_UPDATE_SCREENSHOTS", "") not in ("", "0")
MAX_SHOT_BYTES = 150_000


def shown_picture(img) -> Image.Image:
    "The picture an <img> element shows, decoded from its own source (the blob: URL ipywidgets gave it)."
    b64 = img.evaluate(
        """async el => {
            const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
            let s = "";
            for (const b of bytes) s += String.fromCharCode(b);
            return btoa(s);
        }"""
    )
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")


def _wait_picture(page, img, timeout: float = 30):
    "Wait until `img` shows a decoded picture; returns it."
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=timeout * 1000)
    return shown_picture(img)


def _answer(page, turn: int, timeout: float = 60_000) -> tuple[str, str]:
    "Wait for answer `turn` to finish; (its text, its stats line)."
    done = page.locator(f'.llava-chat .llava-assistant[data-turn="{turn}"][data-done="true"]')
    done.wait_for(state="visible", timeout=timeout)
    return done.locator(".llava-answer").inner_text().strip(), done.locator(".llava-stats").inner_text()


def _ask(page, question: str, enter: bool = True):
    box = page.get_by_placeholder("Ask about the image and press Enter")
    box.fill(question)
    if enter:
        box.press("Enter")
    else:
        page.locator(".llava-chat button", has_text="Send").first.click()


def _empty_chat(page):
    "Wait until the conversation shows no turns (after New chat or a new image)."
    page.locator(".llava-chat", has_text="Pick an image and ask a question.").first.wait_for(timeout=30_000)


def _open(page, title: str):
    "Open the accordion section `title` (ipywidgets 8 draws its header as a Lumino collapse header)."
    page.locator(".llava-chat .jupyter-widget-Collapse-header", has_text=title).first.click()


def _set_slider(page, label: str, value: float):
    "Type `value` into slider `label`'s readout (as a person does: click, select, type, Enter)."
    readout = page.locator(".llava-chat .widget-slider", has_text=label).first.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(f"{value:.2f}")
    page.keyboard.press("Enter")
    end = time.time() + 10
    while float(readout.inner_text()) != value:
        assert time.time() < end, f"the {label} slider shows {readout.inner_text()}, not {value}"
        time.sleep(0.1)


def screenshot(page, tmp_path: Path, name: str) -> Path:
    "The widget alone, into tmp_path (and, when updating, as a small palette PNG into nbs/tutorials/images/)."
    png = page.locator(".llava-chat").first.screenshot()
    out = tmp_path / name
    out.write_bytes(png)
    print(f"screenshot: {out}")
    if UPDATE:
        IMAGES.mkdir(parents=True, exist_ok=True)
        img = Image.open(io.BytesIO(png)).convert("RGB")
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(IMAGES / name, optimize=True)
        size = (IMAGES / name).stat().st_size
        assert size < MAX_SHOT_BYTES, f"{IMAGES / name} is {size} bytes; keep the tutorial's screenshots small"
        print(f"updated {IMAGES / name} ({size} bytes)")
    return out


def _upload(page, **file):
    "Click Upload image and pick `file` (name, mimeType, buffer) in the file chooser it opens."
    with page.expect_file_chooser() as chooser:
        page.locator(".llava-chat button.widget-upload").first.click()
    chooser.value.set_files(files=[file])


def workshop(page, tmp_path: Path) -> None:
    "Upload, refused uploads, slow motion + Stop, answer again, the attention heat map; screenshots along the way."
    image = page.locator(".llava-chat img.llava-image").first
    error = page.locator(".llava-chat .llava-error")
    scene = _wait_picture(page, image)

    # a workshop participant's own photo: shown as the window's picture, and the conversation starts again
    _upload(page, name="grace_hopper.jpg", mimeType="image/jpeg", buffer=PHOTO.read_bytes())
    photo = Image.open(PHOTO).convert("RGB")
    expected = photo.resize((224, round(224 * photo.height / photo.width)), Image.BICUBIC)
    end = time.time() + 30
    while (shown := shown_picture(image)).size != expected.size:
        assert time.time() < end, f"the uploaded photo was not shown (the picture is {shown.size})"
        time.sleep(0.2)
    diff = ImageStat.Stat(ImageChops.difference(shown, expected)).mean
    assert max(diff) < 2, f"the picture shown is not the uploaded photo (mean difference per channel {diff})"
    _empty_chat(page)
    _ask(page, "What is in the picture?")
    text, stats = _answer(page, 0)
    assert text and "tokens" in stats, (text, stats)

    # refused files: a message in the window (not a traceback), the photo and the conversation stay
    _upload(page, name="notes.txt", mimeType="text/plain", buffer=b"these are my notes, not a picture\n")
    error.filter(has_text="Could not use notes.txt").wait_for(timeout=30_000)
    assert "not an image file" in error.inner_text(), error.inner_text()
    big = b"\xff\xd8\xff\xe0" + bytes(9 * 2**20)  # a 9 MB "photo": over the window's 8 MB limit
    _upload(page, name="holiday.jpg", mimeType="image/jpeg", buffer=big)
    error.filter(has_text="Could not use holiday.jpg").wait_for(timeout=60_000)
    assert "larger than 8 MB" in error.inner_text(), error.inner_text()
    assert page.locator(".llava-chat", has_text="up to 8 MB").count() == 1, "the upload limit is not shown"
    assert "Traceback" not in page.locator(".llava-chat").first.inner_text()
    assert shown_picture(image).size == expected.size and _answer(page, 0)[0] == text
    screenshot(page, tmp_path, "chat_refused.png")

    # slow motion, then Stop as soon as the answer has begun to stream
    page.locator(".llava-chat button", has_text="scene 1").first.click()
    _empty_chat(page)
    assert shown_picture(image).tobytes() == scene.tobytes(), "the gallery scene is not shown again"
    assert error.count() == 0, "the refusal message outlived the next good image"
    _open(page, "Settings")
    _set_slider(page, "slow motion", 0.5)
    question = "Describe the image in detail."  # a detail prompt the small world trains on: a long answer
    _ask(page, question)
    live = page.locator('.llava-chat .llava-assistant[data-turn="0"][data-done="false"] .llava-answer')
    end, streamed = time.time() + 60, ""
    while not streamed or streamed == "…":
        assert time.time() < end, "no streamed text appeared within 60 s"
        streamed = live.inner_text().strip() if live.count() else ""
        time.sleep(0.05)
    stop, send = (page.locator(".llava-chat button", has_text=b).first for b in ("Stop", "Send"))
    assert stop.is_enabled() and send.is_disabled(), "Stop must be live (and Send off) while answering"
    stop.click()
    stopped, stats = _answer(page, 0, timeout=30_000)
    assert "stopped" in stats, stats
    assert stopped.startswith(streamed), (stopped, streamed)
    assert stop.is_disabled() and send.is_enabled(), "after Stop the window must take the next question"
    screenshot(page, tmp_path, "chat_stopped.png")

    # the same question again at full speed, in a new chat: the whole answer, which the stopped one began
    _set_slider(page, "slow motion", 0.0)
    _open(page, "Settings")  # closes it again
    page.locator(".llava-chat button", has_text="New chat").first.click()
    _empty_chat(page)
    _ask(page, question, enter=False)
    full, stats = _answer(page, 0)
    assert "stopped" not in stats, stats
    assert full.startswith(stopped) and len(full) > len(stopped), f"stopped {stopped!r}, full {full!r}"
    print(f"streamed {streamed!r}, stopped at {stopped!r}, the whole answer {full!r}")
    _ask(page, "Where is it?")
    _answer(page, 1)

    # "What did it look at?": the picture, and the same picture under a heat map
    _open(page, "What did it look at?")
    page.locator(".llava-chat button", has_text="What did it look at?").first.click()
    heat = _wait_picture(page, page.locator(".llava-chat img.llava-attention").first, timeout=60)
    assert heat.width > 300 and heat.height > 150, heat.size
    w = heat.width // 2
    left, right = heat.crop((0, 0, w, heat.height)), heat.crop((w, 0, 2 * w, heat.height))
    moved = ImageStat.Stat(ImageChops.difference(left, right)).mean
    assert sum(moved) / 3 > 15, f"the right panel is not the picture under a heat map (mean difference {moved})"
    assert len(right.getcolors(2**24)) > 500, "the heat map panel has too few colours to be a heat map"
    assert error.count() == 0, error.all_inner_texts()
    page.locator(".llava-chat img.llava-attention").first.scroll_into_view_if_needed()
    screenshot(page, tmp_path, "chat_attention.png")


def _drag(page, canvas, frm: tuple[float, float], to: tuple[float, float]):
    "Press the mouse at `frm` on the canvas (fractions of its side), move to `to` in a few steps, let go."
    box = canvas.bounding_box()
    at = lambda f: (box["x"] + f[0] * box["width"], box["y"] + f[1] * box["height"])  # noqa: E731
    page.mouse.move(*at(frm))
    page.mouse.down()
    page.mouse.move(*at(((frm[0] + to[0]) / 2, (frm[1] + to[1]) / 2)), steps=4)
    page.mouse.move(*at(to), steps=4)
    page.mouse.up()


def draw_and_ask(page, tmp_path: Path) -> str:
    """Open Draw, stamp a red square and paint a blue stroke with the mouse, press "Ask about this drawing": the
    window's picture is the drawing, and a question about it is answered. Returns the answer."""
    _open(page, "Draw")
    pad = page.locator(".llava-chat .llava-draw").first
    canvas = pad.locator("canvas.llava-draw-canvas")
    canvas.wait_for(state="visible", timeout=30_000)
    canvas.scroll_into_view_if_needed()
    pick = lambda name: pad.get_by_role("button", name=name, exact=True).click()  # noqa: E731
    pick("square")
    pick("red")
    _drag(page, canvas, (0.3, 0.3), (0.7, 0.7))
    pick("brush")
    pick("blue")
    _drag(page, canvas, (0.06, 0.08), (0.22, 0.08))
    page.locator(".llava-chat button", has_text="Ask about this drawing").first.click()
    _empty_chat(page)
    image = page.locator(".llava-chat img.llava-image").first
    end = time.time() + 30
    while (shown := shown_picture(image)).getpixel((112, 112)) != (224, 32, 42):
        assert time.time() < end, f"the drawing is not the window's picture (centre {shown.getpixel((112, 112))})"
        time.sleep(0.2)
    s = shown.width
    corner, stroke = shown.getpixel((s - 5, s - 5)), shown.getpixel((round(0.14 * s), round(0.08 * s)))
    assert corner == (0, 0, 0), f"the page is not black: {corner}"
    assert stroke[2] > 200 and stroke[0] < 80, f"the blue brush stroke is missing: {stroke}"
    _ask(page, "What colour is the square?")
    text, stats = _answer(page, 0)
    assert text and "tokens" in stats, (text, stats)
    assert page.locator(".llava-chat .llava-error").count() == 0
    print(f"asked about a drawing: {text!r}")
    heat = page.locator(".llava-chat img.llava-attention").first
    assert heat.evaluate("el => el.naturalWidth") == 0, "the heat map of the last picture is still shown"
    screenshot(page, tmp_path, "chat_draw.png")
    return text
