"""Every kind of image reaches the tower the same way in training, chat, serve and eval: one preprocessing path
(`data.to_rgb` then `preprocess_images`). Each image below is fed through the four entry points a user's image takes:

- training: `LlavaDataset` (a record naming the file), as `train` loads it;
- chat: `ChatSession.set_image` with the file's path, its bytes (an upload) and the PIL image as opened;
- serve: `serve_protocol.decode_image_url` of a data URL, then the processor, as the server answers;
- eval: `answer_batch`'s items hold a path or a PIL image: `LlavaProcessor.pixel_values` of each.

The pixel tensors must be identical. EXIF orientation is not applied anywhere (as in the official LLaVA code: COCO's
boxes and captions refer to the stored pixels); a rotated JPEG is still fed the same way by all four."""

import base64

import numpy as np
import pytest
import torch
from PIL import Image

from llava_nb.chat.session import ChatSession
from llava_nb.core import IMAGE_TOKEN
from llava_nb.model.processor import LlavaDataset
from llava_nb.model.llava import LlavaModel
from llava_nb.chat.protocol import decode_image_url
from llava_nb.tiny import save_tiny_parts


def _rgba(path):
    a = np.zeros((40, 30, 4), np.uint8)
    a[5:20, 5:20] = (255, 0, 0, 255)  # an opaque red square on transparent black
    Image.fromarray(a, "RGBA").save(path)


def _palette_transparent(path):
    im = Image.new("P", (20, 20), 0)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (5, 5, 15, 15))
    im.save(path, transparency=0)  # palette index 0 (black) is transparent


def _grey16(path):
    Image.fromarray((np.arange(24 * 24).reshape(24, 24) * 100).astype(np.uint16)).save(path)


def _exif_rotated(path):
    im = Image.new("RGB", (48, 24), "white")
    im.paste((0, 128, 0), (0, 0, 24, 24))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    im.save(path, exif=exif, quality=95)


KINDS = {
    "rgba.png": _rgba,
    "la.png": lambda p: Image.new("LA", (16, 16), (128, 100)).save(p),
    "palette_transparent.png": _palette_transparent,
    "grey16.png": _grey16,
    "one_by_n.png": lambda p: Image.new("RGB", (1, 300), (0, 0, 255)).save(p),
    "tiny.png": lambda p: Image.new("RGB", (1, 1), (255, 255, 0)).save(p),
    "large.png": lambda p: Image.new("RGB", (4000, 3000), (10, 200, 30)).save(p),
    "cmyk.jpg": lambda p: Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(p),
    "exif_rotated.jpg": _exif_rotated,
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    parts = save_tiny_parts(tmp_path_factory.mktemp("parts"))
    return LlavaModel.from_parts(parts["vision"], parts["llm"]).eval()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name, make in KINDS.items():
        make(folder / name)
    return folder


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_entry_point_gives_the_tower_the_same_pixels(model, images, name):
    path = images / name
    proc = model.processor
    record = {"id": name, "image": name, "conversations": [
        {"from": "human", "value": f"{IMAGE_TOKEN}\nWhat is it?"}, {"from": "gpt", "value": "A shape."}]}
    ds = LlavaDataset([record], proc, image_folder=images)
    training = ds[0]["pixel_values"]  # (1, 3, H, W)
    assert training.shape[0] == 1 and torch.isfinite(training).all()
    chat = ChatSession(model)
    with Image.open(path) as opened:
        for upload in (path, path.read_bytes(), opened):
            chat.set_image(upload)
            assert torch.equal(chat.pixel_values, training), f"chat ({type(upload).__name__}) differs on {name}"
        assert torch.equal(proc.pixel_values([opened]), training), f"eval (PIL image) differs on {name}"
    mime = "jpeg" if name.endswith(".jpg") else "png"
    url = f"data:image/{mime};base64," + base64.b64encode(path.read_bytes()).decode()
    assert torch.equal(proc.pixel_values([decode_image_url(url)]), training), f"serve differs on {name}"
    assert torch.equal(proc.pixel_values([path]), training), f"eval (path) differs on {name}"


def test_transparency_is_white_not_black(model, images):
    "What every path agrees on is the right thing: a transparent background reads as white, as a viewer shows it."
    chat = ChatSession(model)
    with Image.open(images / "rgba.png") as im:
        chat.set_image(im)
    assert chat.image.size == (30, 40)
    assert chat.image.getpixel((29, 35)) == (255, 255, 255)  # transparent
    assert chat.image.getpixel((10, 10)) == (255, 0, 0)  # opaque red
