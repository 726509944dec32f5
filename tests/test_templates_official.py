"""The official code as the oracle for the templates.

- LLaVA's own `llava/conversation.py` (package `llava-torch` 1.2.2, a dev-only install): our `vicuna_v1`, `llama_2`,
  `chatml_direct` and `mistral_instruct` write exactly the text its `Conversation.get_prompt()` writes, training text
  and generation prompt, on 1, 2 and 3 rounds, with and without `<image>`, with the default and a custom system prompt.
- LLaVA-NeXT's `llava_llama_3` and `qwen_1_5` are not in that package: they are checked against the strings of
  LLaVA-NeXT's `conversation.py` / `train.py`, and `llava_llama_3` against a Llama-3-style tokenizer whose own chat
  template (Meta's format, written here) goes through our `hf` template: same ids, same labels.
- Every new template trains exactly what generation writes (`verify_masking`), with tiny tokenizers that know its
  special tokens and with real vocabularies (Mistral-7B's SentencePiece; tekken's byte-level BPE as Qwen2 / Llama-3).
"""

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import processors

from llava_nb.data.templates import LLAMA_2_SYSTEM, QWEN_SYSTEM, get_template, to_hf_messages
from llava_nb.core import IMAGE_TOKEN
from llava_nb.data.masking import tokenize_conversation, tokenize_prompt, verify_masking
from llava_nb.tiny import (
    sentencepiece_llama_tokenizer,
    tekken_bytelevel_tokenizer,
    tiny_bytelevel_tokenizer,
    tiny_llama_tokenizer,
)


def _official_conversation():
    "LLaVA's `llava/conversation.py` loaded by its path: importing the `llava` package would pull in its model code."
    spec = importlib.util.find_spec("llava")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "conversation.py"
    if not path.is_file():
        return None
    mod_spec = importlib.util.spec_from_file_location("_official_llava_conversation", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module if "chatml_direct" in getattr(module, "conv_templates", {}) else None


OFFICIAL = _official_conversation()
needs_official = pytest.mark.skipif(
    OFFICIAL is None,
    reason="the official LLaVA package is not installed (dev only: pip install --no-deps llava-torch==1.2.2.post1)",
)

# ours -> the official conv_templates key (LLaVA-1.5 trains with `--version v1`; `llava_llama_2` has LLaVA's system)
OFFICIAL_NAMES = {
    "vicuna_v1": "v1",
    "llama_2": "llava_llama_2",
    "chatml_direct": "chatml_direct",
    "mistral_instruct": "mistral_instruct",
}
QUESTIONS = ["What color is the star?", "Where is it?", "How many circles are there?"]
ANSWERS = ["The star is red.", "Top left.", "2 circles.\nBoth are blue."]
LTOK, BTOK = tiny_llama_tokenizer(), tiny_bytelevel_tokenizer()


def conversation(rounds: int, image: bool = True) -> list[dict]:
    "`rounds` question/answer pairs in the normalised LLaVA shape (`<image>\\n` in front of the first question)."
    turns = []
    for i, (q, a) in enumerate(zip(QUESTIONS[:rounds], ANSWERS[:rounds])):
        q = f"{IMAGE_TOKEN}\n{q}" if image and i == 0 else q
        turns += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    return turns


def official_prompt(name: str, conversations: list[dict], system: str | None = None) -> str:
    "What the official `Conversation` writes: all turns, then the assistant role with no message if a question is last."
    conv = OFFICIAL.conv_templates[name].copy()
    if system is not None:
        conv.system = system
    for turn in conversations:
        conv.append_message(conv.roles[0 if turn["from"] == "human" else 1], turn["value"])
    if conversations[-1]["from"] == "human":
        conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def official_system(name: str, system: str) -> str:
    "The official `system` for our system prompt: chatml_direct's carries its own `<|im_start|>system\\n`."
    return f"<|im_start|>system\n{system}" if name == "chatml_direct" else system


@needs_official
@pytest.mark.parametrize("image", [True, False])
@pytest.mark.parametrize("rounds", [1, 2, 3])
@pytest.mark.parametrize("name", list(OFFICIAL_NAMES))
def test_text_equals_official(name, rounds, image):
    ours, conv = get_template(name), conversation(rounds, image)
    official = OFFICIAL_NAMES[name]
    assert ours.render(conv, LTOK).text == official_prompt(official, conv)
    for k in range(1, len(conv), 2):
        assert ours.generation_prompt(conv[:k], LTOK) == official_prompt(official, conv[:k])


@needs_official
@pytest.mark.parametrize("name", list(OFFICIAL_NAMES))
def test_system_prompt_override_equals_official(name):
    conv, official = conversation(2), OFFICIAL_NAMES[name]
    ours = get_template(name, system="Be brief.")
    assert ours.render(conv, LTOK).text == official_prompt(official, conv, official_system(name, "Be brief."))
    assert ours.generation_prompt(conv[:3], LTOK) == official_prompt(
        official, conv[:3], official_system(name, "Be brief.")
    )


@needs_official
def test_official_defaults():
    "The defaults themselves: system prompts and the separators that decide what follows an answer."
    c = OFFICIAL.conv_templates
    assert get_template("vicuna_v1").system == c["v1"].system
    assert get_template("llama_2").system == c["llava_llama_2"].system == LLAMA_2_SYSTEM
    assert official_system("chatml_direct", get_template("chatml_direct").system) == c["chatml_direct"].system
    assert get_template("mistral_instruct").system == c["mistral_instruct"].system == ""
    assert (c["mistral_instruct"].sep, c["mistral_instruct"].sep2) == ("", "</s>")  # no <s> between rounds


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), min_size=1, max_size=30)


@needs_official
@pytest.mark.parametrize("name", list(OFFICIAL_NAMES))
@settings(max_examples=30, deadline=None)
@given(texts=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=3), system=st.one_of(st.none(), TEXT))
def test_any_text_equals_official(name, texts, system):
    "Random questions, answers and system prompts (non-empty: the official code skips empty messages)."
    conv = [{"from": f, "value": v} for q, a in texts for f, v in (("human", q), ("gpt", a))]
    ours, official = get_template(name), OFFICIAL_NAMES[name]
    off_system = None
    if system is not None:
        ours, off_system = get_template(name, system=system), official_system(name, system)
    assert ours.render(conv, LTOK).text == official_prompt(official, conv, off_system)
    assert ours.generation_prompt(conv[:-1], LTOK) == official_prompt(official, conv[:-1], off_system)


@needs_official
def test_plain_equals_official_preprocess_rule():
    "`get_prompt` cannot render a plain round (`sep2` is None); the official preprocess writes image + caption + sep."
    sep = OFFICIAL.conv_templates["plain"].sep
    conv = [{"from": "human", "value": "<image>\nDescribe the image briefly."}, {"from": "gpt", "value": "a red star"}]
    r = get_template("plain").render(conv, LTOK)
    assert r.text == IMAGE_TOKEN + "a red star" + sep
    assert r.trained_text == ["a red star" + sep]


# --- LLaVA-NeXT (LLaVA-VL/LLaVA-NeXT): llava/conversation.py `conv_qwen` / `conv_llava_llama_3`, llava/train/train.py


def H(role: str) -> str:
    "A Llama-3 message header."
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n"


def test_qwen_1_5_text():
    conv = conversation(3)
    want = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<image>\nWhat color is the star?<|im_end|>\n"
        "<|im_start|>assistant\nThe star is red.<|im_end|>\n"
        "<|im_start|>user\nWhere is it?<|im_end|>\n<|im_start|>assistant\nTop left.<|im_end|>\n"
        "<|im_start|>user\nHow many circles are there?<|im_end|>\n"
        "<|im_start|>assistant\n2 circles.\nBoth are blue.<|im_end|>\n"
    )
    r = get_template("qwen_1_5").render(conv, BTOK)
    assert r.text == want
    assert r.trained_text == [a + "<|im_end|>" for a in ANSWERS]
    assert get_template("qwen_1_5").generation_prompt(conv[:5], BTOK) == want[: want.index("2 circles")]
    # the same text as a ChatML template given Qwen's system message first (how LLaVA-NeXT's preprocess builds it)
    msgs = [{"role": "system", "content": QWEN_SYSTEM}] + to_hf_messages(conv, "text")
    assert BTOK.apply_chat_template(msgs, tokenize=False) == want


def test_llava_llama_3_text():
    conv = conversation(2)
    want = (
        H("system") + "You are a helpful language and vision assistant. You are able to understand the visual content "
        "that the user provides, and assist the user with a variety of tasks using natural language.<|eot_id|>"
        + H("user")
        + "<image>\nWhat color is the star?<|eot_id|>"
        + H("assistant")
        + "The star is red.<|eot_id|>"
        + H("user")
        + "Where is it?<|eot_id|>"
        + H("assistant")
        + "Top left.<|eot_id|>"
    )
    t = get_template("llava_llama_3")
    assert t.render(conv, LTOK).text == want
    assert t.render(conv, LTOK).trained_text == ["The star is red.<|eot_id|>", "Top left.<|eot_id|>"]
    assert t.generation_prompt(conv[:3], LTOK) == want[: want.index("Top left.")]
    assert t.stop_strings(LTOK) == ["<|eot_id|>"]


# Meta-Llama-3-Instruct's format, written as a chat template, with LLaVA's system prompt as the default system message
LLAMA3_STYLE_JINJA = (
    "{{ bos_token }}{% if messages[0]['role'] != 'system' %}"
    "{{ '<|start_header_id|>system<|end_header_id|>\\n\\n' + " + json.dumps(LLAMA_2_SYSTEM) + " + '<|eot_id|>' }}"
    "{% endif %}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def tiny_llama3_tokenizer():
    "The tiny byte-level tokenizer dressed as Llama-3: `<|begin_of_text|>` prepended, header tokens, EOS `<|eot_id|>`."
    tok = tiny_bytelevel_tokenizer()
    specials = {"additional_special_tokens": ["<|start_header_id|>", "<|end_header_id|>"]}
    tok.add_special_tokens(
        dict(specials, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"), replace_additional_special_tokens=False
    )
    bos = (tok.bos_token, tok.bos_token_id)
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos[0]} $A", pair=f"{bos[0]} $A $B", special_tokens=[bos]
    )
    tok.chat_template = LLAMA3_STYLE_JINJA
    return tok


L3TOK = tiny_llama3_tokenizer()


@pytest.mark.parametrize("image", [True, False])
@pytest.mark.parametrize("rounds", [1, 2, 3])
def test_llava_llama_3_equals_a_llama_3_tokenizer_template(rounds, image):
    "Ours and the tokenizer's own Llama-3 template (through `hf`): the same ids and labels; one BOS, from either side."
    conv = conversation(rounds, image)
    ours = tokenize_conversation(conv, L3TOK, "llava_llama_3", num_image_tokens=3)
    assert tokenize_conversation(conv, L3TOK, "hf", num_image_tokens=3) == ours
    assert ours.input_ids[0] == L3TOK.bos_token_id and ours.input_ids.count(L3TOK.bos_token_id) == 1
    assert (
        get_template("hf").render(conv, L3TOK).text
        == L3TOK.bos_token + get_template("llava_llama_3").render(conv, L3TOK).text
    )
    for k in range(1, len(conv), 2):
        assert tokenize_prompt(conv[:k], L3TOK, "hf") == tokenize_prompt(conv[:k], L3TOK, "llava_llama_3")


def test_llava_llama_3_trims_like_llama_3():
    "Llama-3's template trims every message; so does ours, and both renderers agree on padded text."
    conv = [dict(t, value=f" \n{t['value']}  \n") for t in conversation(2)]
    t = get_template("llava_llama_3")
    assert t.render(conv, L3TOK) == t.render(conversation(2), L3TOK)
    assert tokenize_conversation(conv, L3TOK, "hf") == tokenize_conversation(conv, L3TOK, t)


# --- labels: every new template trains exactly what generation writes, with tokenizers that know its special tokens
MASKING = {
    "chatml_direct": ("bytelevel",),
    "qwen_1_5": ("bytelevel",),
    "mistral_instruct": ("llama", "bytelevel"),
    "llava_llama_3": ("llama3",),
}
TOKENIZERS = {"llama": LTOK, "bytelevel": BTOK, "llama3": L3TOK}


@pytest.mark.parametrize("image", [True, False])
@pytest.mark.parametrize("rounds", [1, 2, 3])
@pytest.mark.parametrize("name,family", [(n, f) for n, fs in MASKING.items() for f in fs])
def test_new_templates_train_what_generation_writes(name, family, rounds, image):
    verify_masking(conversation(rounds, image), TOKENIZERS[family], name, num_image_tokens=3)


# real vocabularies (from the mistral-common wheel, a dev dependency): Mistral-7B's SentencePiece, legacy and not, and
# tekken's byte-level BPE split like Qwen2 or Llama-3 with their special tokens
REAL = {
    "chatml_direct": ("qwen2",),
    "qwen_1_5": ("qwen2",),
    "mistral_instruct": ("sentencepiece", "sentencepiece-nonlegacy"),
    "llava_llama_3": ("llama3",),
}


def real_tokenizer(kind: str):
    pytest.importorskip("mistral_common", reason="the real test vocabularies come from mistral-common (dev extra)")
    if kind.startswith("sentencepiece"):
        return sentencepiece_llama_tokenizer(legacy=kind == "sentencepiece")
    return tekken_bytelevel_tokenizer(kind)


@pytest.mark.parametrize("name,kind", [(n, k) for n, ks in REAL.items() for k in ks])
def test_new_templates_on_real_vocabularies(name, kind):
    tok = real_tokenizer(kind)
    for rounds in (1, 2, 3):
        for image in (True, False):
            verify_masking(conversation(rounds, image), tok, name, num_image_tokens=3)
    if name == "llava_llama_3":  # and the tokenizer's own Llama-3 template, through `hf`, gives the same ids and labels
        tok.chat_template = LLAMA3_STYLE_JINJA
        conv = conversation(3)
        assert tokenize_conversation(conv, tok, "hf") == tokenize_conversation(conv, tok, name)
