"""Templates and transformers: each template's Jinja renders exactly `render` / `generation_prompt` through
`apply_chat_template` (tokenizer and LlavaProcessor, saved and reloaded), and the `hf` template agrees with ours."""

import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image
from transformers import AutoProcessor, AutoTokenizer, LlavaProcessor

from llava_nb.data.templates import TEMPLATES, get_template, to_hf_messages
from llava_nb.core import IMAGE_TOKEN, RecordError
from llava_nb.data.masking import tokenize_conversation, tokenize_prompt
from llava_nb.tiny import tiny_bytelevel_tokenizer, tiny_clip_vision, tiny_llama_tokenizer

LTOK, BTOK = tiny_llama_tokenizer(), tiny_bytelevel_tokenizer()
TOKENIZERS = {"llama": LTOK, "bytelevel": BTOK}
OURS = ["plain", "vicuna_v1", "llama_2", "chatml", "chatml_direct", "mistral_instruct", "llava_llama_3", "qwen_1_5"]
# their STOP, <|im_end|>, is a special token of the byte-level tokenizer only
CHATML_FAMILY = ("chatml", "chatml_direct", "qwen_1_5")

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), max_size=30)
ANSWER = TEXT.filter(lambda s: s.strip())


@st.composite
def conversations(draw, max_rounds=3, n_images=None):
    n, k = draw(st.integers(1, max_rounds)), draw(st.integers(0, 2)) if n_images is None else n_images
    conv = []
    for i in range(n):
        q = draw(TEXT)
        if i == 0 and k:
            q = "\n".join([IMAGE_TOKEN] * k + [q])  # the normalised shape: one "<image>\n" per image, in front
        conv += [{"from": "human", "value": q}, {"from": "gpt", "value": draw(ANSWER)}]
    return conv


def check_jinja(template, tok, conv, jinja=None):
    jinja = jinja or template.to_jinja(tok)
    for content in ("parts", "text"):
        msgs = to_hf_messages(conv, content)
        assert tok.apply_chat_template(msgs, chat_template=jinja, tokenize=False) == template.render(conv, tok).text
        for k in range(1, len(msgs) + 1, 2):
            got = tok.apply_chat_template(msgs[:k], chat_template=jinja, tokenize=False, add_generation_prompt=True)
            assert got == template.generation_prompt(conv[:k], tok)


@pytest.mark.parametrize("family", ["llama", "bytelevel"])
@pytest.mark.parametrize("name", OURS)
@settings(max_examples=30, deadline=None)
@given(conv=conversations(), system=st.one_of(st.none(), TEXT))
def test_jinja_renders_like_python(name, family, conv, system):
    tok = TOKENIZERS[family]
    if name == "plain":
        conv = conv[:2]
        if IMAGE_TOKEN not in conv[0]["value"]:
            conv[0]["value"] = IMAGE_TOKEN + "\n" + conv[0]["value"]
    t = get_template(name) if system is None or name == "plain" else get_template(name, system=system)
    check_jinja(t, tok, conv)


@pytest.mark.parametrize("family", ["llama", "bytelevel"])
def test_jinja_system_message_overrides_default(family):
    tok, conv = TOKENIZERS[family], [{"from": "human", "value": "<image>\nHi"}]
    for name in OURS[1:]:
        msgs = [{"role": "system", "content": "Be brief."}] + to_hf_messages(conv)
        got = tok.apply_chat_template(
            msgs, chat_template=get_template(name).to_jinja(tok), tokenize=False, add_generation_prompt=True
        )
        assert got == get_template(name, system="Be brief.").generation_prompt(conv, tok)


@pytest.mark.parametrize("family", ["llama", "bytelevel"])
def test_plain_jinja_refuses_what_plain_refuses(family):
    tok = TOKENIZERS[family]
    j = get_template("plain").to_jinja(tok)
    two = to_hf_messages([{"from": "human", "value": "<image>\na"}, {"from": "gpt", "value": "b"}] * 2)
    with pytest.raises(Exception, match="one round"):
        tok.apply_chat_template(two, chat_template=j, tokenize=False)
    with pytest.raises(Exception, match="needs an image"):
        tok.apply_chat_template([{"role": "user", "content": "hi"}], chat_template=j, tokenize=False)


@pytest.mark.parametrize("family", ["llama", "bytelevel"])
@pytest.mark.parametrize("name", ["vicuna_v1", "llama_2", "chatml", "chatml_direct", "mistral_instruct", "qwen_1_5"])
@settings(max_examples=25, deadline=None)
@given(conv=conversations())
def test_hf_template_over_our_jinja_equals_ours(name, family, conv, tmp_path_factory):
    "A tokenizer saved with our Jinja as its chat template, reloaded, gives the same text and mask through 'hf'."
    tok = TOKENIZERS[family]
    if name in CHATML_FAMILY and family == "llama":
        return  # '<|im_end|>' is not a special token there: 'hf' cannot find a STOP
    if any(c["value"] != c["value"].strip() for c in conv[1::2]):
        conv = [dict(c, value=c["value"].strip() or "x") for c in conv]
    ours = get_template(name)
    d = tmp_path_factory.mktemp("tok")
    saved = tiny_llama_tokenizer() if family == "llama" else tiny_bytelevel_tokenizer()
    saved.chat_template = ours.to_jinja(saved)
    saved.save_pretrained(d)
    loaded = AutoTokenizer.from_pretrained(d)
    hf = get_template("hf")
    assert hf.render(conv, loaded) == ours.render(conv, tok)
    assert tokenize_conversation(conv, loaded, hf, num_image_tokens=3) == tokenize_conversation(
        conv, tok, ours, num_image_tokens=3
    )
    assert hf.generation_prompt(conv[:1], loaded) == ours.generation_prompt(conv[:1], tok)


def test_hf_template_errors():
    conv = [
        {"from": "human", "value": "Hi"},
        {"from": "gpt", "value": "Hello"},
        {"from": "human", "value": "Bye"},
        {"from": "gpt", "value": "Bye"},
    ]
    with pytest.raises(ValueError, match="needs a tokenizer with a chat_template"):
        get_template("hf").render(conv, LTOK)
    tok = tiny_bytelevel_tokenizer()
    # rewrites the start as it grows
    tok.chat_template = "{% if messages|length > 2 %}LONG {% endif %}" + BTOK.chat_template
    with pytest.raises(RecordError, match="not prefix-stable"):
        tokenize_conversation(conv, tok, "hf", record="r1")
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"  # no special token after answers
    with pytest.raises(RecordError, match="record r2, turn 1: .*no special token after the answer"):
        tokenize_conversation(conv, tok, "hf", record="r2")


@pytest.mark.parametrize("family", ["llama", "bytelevel"])
@pytest.mark.parametrize("name", OURS)
def test_llava_processor_renders_and_tokenizes_our_prompt(name, family, tmp_path):
    """A llava-hf processor whose chat template is ours renders the prompt we train with and, expanding <image> to the
    tower's patch count, produces exactly our prompt ids; also after save/load through AutoProcessor."""
    tok = TOKENIZERS[family]
    _, proc = tiny_clip_vision()  # 32 px, 8 px patches: 16 patch tokens (CLS dropped)
    t = get_template(name)
    p = LlavaProcessor(
        image_processor=proc,
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        chat_template=t.to_jinja(tok),
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,
    )
    p.save_pretrained(tmp_path)
    p = AutoProcessor.from_pretrained(tmp_path)
    conv = [{"from": "human", "value": "<image>\nWhat color is the star?"}]
    prompt = p.apply_chat_template(to_hf_messages(conv), add_generation_prompt=True)
    assert prompt == t.generation_prompt(conv, tok)
    enc = p(
        text=prompt,
        images=Image.new("RGB", (40, 30)),
        return_tensors="pt",
        add_special_tokens=t.special_tokens_for(prompt, tok),
    )
    assert enc.input_ids[0].tolist() == tokenize_prompt(conv, tok, t, num_image_tokens=16)
    assert enc.pixel_values.shape == (1, 3, 32, 32)


def test_registry_is_immutable():
    before = {k: v for k, v in TEMPLATES.items()}
    custom = get_template("vicuna_v1", system="Custom.")
    assert custom.system == "Custom." and TEMPLATES == before and TEMPLATES["vicuna_v1"].system != "Custom."
    with pytest.raises(Exception):
        TEMPLATES["vicuna_v1"].system = "x"  # frozen


def test_unknown_template_lists_the_known_names():
    with pytest.raises(ValueError, match="unknown template 'nope'; known: ") as e:
        get_template("nope")
    assert all(repr(name) in str(e.value) for name in TEMPLATES)
    assert {"chatml_direct", "mistral_instruct", "llava_llama_3", "qwen_1_5"} <= set(TEMPLATES)
