"""The wild test set (07i_smallworld_wild) is held out by construction: drawn by code that shares nothing with the training
renderer, in looks the training world never has."""

import ast
import inspect

import numpy as np
from PIL import Image

import llava_nb.smallworld.wild as wild
from llava_nb.smallworld.world import BACKGROUND, IMAGE_SIZE, make_world


def test_the_wild_renderer_uses_none_of_the_training_drawing_code():
    tree = ast.parse(inspect.getsource(wild))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported.isdisjoint({"render_scene", "draw_shape", "ImageDraw", "COLOUR_RGB", "make_scene", "sample_scene"})
    assert "ImageDraw" not in inspect.getsource(wild)


def test_the_wild_pictures_look_unlike_the_training_world(tmp_path):
    make_world(tmp_path / "world", 20, seed=0)
    train = [Image.open(p) for p in sorted((tmp_path / "world" / "images").iterdir())]
    assert {im.size for im in train} == {(IMAGE_SIZE, IMAGE_SIZE)}
    assert all(tuple(np.asarray(im)[0, 0]) == BACKGROUND for im in train)  # black, always
    recs = wild.make_wild(tmp_path / "wild", 60, seed=0)
    pics = {r["image"]: Image.open(tmp_path / "wild" / r["image"]).convert("RGB") for r in recs}
    sizes = {im.size for im in pics.values()}
    assert IMAGE_SIZE not in {w for w, _ in sizes} and len(sizes) >= 4  # other canvases
    corners = [tuple(np.asarray(im)[0, 0]) for im in pics.values()]
    assert sum(c != BACKGROUND for c in corners) > len(corners) / 2  # mostly other backgrounds
    assert {r["background"] for r in recs} >= {"white", "black", "gradient", "noise"}
    assert any(n.endswith(".jpg") for n in pics) and any(n.endswith(".png") for n in pics)


def test_every_answer_is_exact():
    import random

    for i in range(50):
        rng = random.Random(i)
        scene = wild.wild_scene(rng)
        for q, a, t in wild.wild_questions(scene, rng):
            objs = scene["objects"]
            if t == "count" and q == "How many objects are there?":
                assert a == str(len(objs))
            if t == "color":
                shape = q.removeprefix("What color is the ").removesuffix("?")
                assert [o["color"] for o in objs if o["shape"] == shape] == [a]
            if t == "existence":
                c, s = q.removeprefix("Is there a ").removesuffix(" in the image?").split()
                assert a == ("yes" if any(o["color"] == c and o["shape"] == s for o in objs) else "no")
