"""Property tests: for random multi-turn conversations, every template and every tokenizer family (the tiny ones, and
real vocabularies shipped inside the dev extra's mistral-common: a SentencePiece Llama-family model in legacy and
non-legacy mode, a byte-level BPE split like Qwen2 and like Llama-3), the mask trains exactly what generation writes
after each prompt (answer + STOP), and the ids are those of the full rendered text."""
import pytest
from hypothesis import event, given, settings, strategies as st

from llava_nb.data.templates import get_template
from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN, RecordError
from llava_nb.data.masking import _specials_of, tokenize_conversation, tokenize_prompt, trained_runs, verify_masking
from llava_nb.tiny import (sentencepiece_llama_tokenizer, tekken_bytelevel_tokenizer, tiny_bytelevel_tokenizer,
                           tiny_llama_tokenizer)

LTOK, BTOK = tiny_llama_tokenizer(), tiny_bytelevel_tokenizer()
LTOK_HF = tiny_llama_tokenizer()  # a Llama-style tokenizer whose own chat template is llama_2
LTOK_HF.chat_template = get_template("llama_2").to_jinja(LTOK_HF)
TOKENIZERS = {"llama": LTOK, "bytelevel": BTOK}
try:  # real vocabularies (no download: the files ship inside the mistral-common wheel, a dev dependency)
    REAL = {"sentencepiece": sentencepiece_llama_tokenizer(legacy=True),
            "sentencepiece-nonlegacy": sentencepiece_llama_tokenizer(legacy=False),
            "bpe-qwen2": tekken_bytelevel_tokenizer("qwen2"), "bpe-llama3": tekken_bytelevel_tokenizer("llama3")}
except ImportError:
    REAL = {}
needs_real = pytest.mark.skipif(not REAL, reason="real test tokenizers need mistral-common: pip install -e '.[dev]'")
# The answers VQA data is full of: a digit, a newline or a CJK character first (a lone '▁'/'Ġ' token before it).
VQA_ANSWERS = ["2", "12 apples", "\nA list", "3.5 m", "猫", "Yes", "(A) cat", "$5", "1. red\n2. blue", "０", "\t7"]

# Role words of every template, pieces of special tokens, whitespace, non-ASCII.
FRAGMENTS = ["ASSISTANT:", "USER:", " ASSISTANT: ", "[/INST]", "[INST]", "<<SYS>>", "<|im_start|", "im_end|>", "</", "s>",
             "<", ">", "|", "{a}", "{q}", "\n", "\n\n", "\r\n", "\t", " ", "  ", "é", "中文", "😀", "—", "ß", "The red star.", "?", "."]
# '▁' is excluded: a Llama/SentencePiece tokenizer decodes a literal '▁' as a space (lossy by design, not a masking matter).
CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="▁")
TEXT = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(CHARS, min_size=1, max_size=6)), min_size=1, max_size=6).map("".join)
ANSWER = TEXT.filter(lambda s: s.strip())

@st.composite
def conversations(draw, max_rounds=4, image=None):
    n = draw(st.integers(1, max_rounds))
    with_image = draw(st.booleans()) if image is None else image
    conv = []
    for i in range(n):
        q = draw(TEXT)
        if i == 0 and with_image: q = IMAGE_TOKEN + "\n" + q
        conv += [{"from": "human", "value": q}, {"from": "gpt", "value": draw(ANSWER)}]
    return conv

def has_special(conv, tok):
    return any(s in t["value"] for t in conv for s in _specials_of(tok))

def check(conv, tok, template, k):
    if has_special(conv, tok):  # a special-token string typed into a turn is refused, with the turn named
        with pytest.raises(RecordError, match="special token"): tokenize_conversation(conv, tok, template, record="x")
        event("refused: a special-token string in a turn")
        return
    event(f"checked: {len(conv) // 2} round(s)")
    t = verify_masking(conv, tok, template, num_image_tokens=k)
    assert all(l == IGNORE_INDEX or l == i for i, l in zip(t.input_ids, t.labels))
    assert len(trained_runs(t)) == len(conv) // 2
    img = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    assert t.input_ids.count(img) == k * conv[0]["value"].count(IMAGE_TOKEN)
    assert all(l == IGNORE_INDEX for i, l in zip(t.input_ids, t.labels) if i == img)

@pytest.mark.parametrize("family", ["llama", "bytelevel"])
@pytest.mark.parametrize("template", ["vicuna_v1", "llama_2", "chatml", "chatml_direct", "mistral_instruct", "qwen_1_5",
                                      "llava_llama_3"])
@settings(max_examples=60, deadline=None)
@given(conv=conversations(), k=st.integers(1, 5))
def test_chat_templates(template, family, conv, k):
    check(conv, TOKENIZERS[family], template, k)

@pytest.mark.parametrize("family", ["llama", "bytelevel"])
@settings(max_examples=60, deadline=None)
@given(conv=conversations(), k=st.integers(1, 3))
def test_hf_template(family, conv, k):
    check(conv, LTOK_HF if family == "llama" else BTOK, "hf", k)

@pytest.mark.parametrize("family", ["llama", "bytelevel"])
@settings(max_examples=60, deadline=None)
@given(conv=conversations(max_rounds=1, image=True), k=st.integers(1, 5))
def test_plain(family, conv, k):
    check(conv, TOKENIZERS[family], "plain", k)

@settings(max_examples=60, deadline=None)
@given(conv=conversations(image=True), k=st.integers(1, 8), cut=st.integers(1, 200))
def test_truncation(conv, k, cut):
    "Truncation keeps a prefix of the full ids, never splits or drops image tokens, and keeps a trained token (or errors)."
    if has_special(conv, LTOK): return
    full = tokenize_conversation(conv, LTOK, "vicuna_v1", num_image_tokens=k)
    try: t = tokenize_conversation(conv, LTOK, "vicuna_v1", num_image_tokens=k, max_length=cut)
    except RecordError as e:
        assert "max_length" in str(e)
        img = LTOK.convert_tokens_to_ids(IMAGE_TOKEN)
        assert img in full.input_ids[cut:] or all(l == IGNORE_INDEX for l in full.labels[:cut])
        return
    assert t.input_ids == full.input_ids[:cut] and t.labels == full.labels[:cut]
    assert t.input_ids.count(LTOK.convert_tokens_to_ids(IMAGE_TOKEN)) == k
    assert any(l != IGNORE_INDEX for l in t.labels)

def test_role_words_in_answers_are_trained():
    conv = [{"from": "human", "value": "<image>\nRepeat: USER: x ASSISTANT: y"}, {"from": "gpt", "value": "USER: x ASSISTANT: y"}]
    for family, tok in TOKENIZERS.items():
        t = verify_masking(conv, tok, "vicuna_v1")
        assert tok.decode(trained_runs(t)[0]).strip() == "USER: x ASSISTANT: y" + tok.eos_token

@pytest.mark.parametrize("family", ["llama", "bytelevel", "bpe-qwen2"])
@pytest.mark.parametrize("template", ["vicuna_v1", "llama_2", "chatml", "plain"])
@settings(max_examples=60, deadline=None)
@given(conv=conversations(image=True), k=st.integers(1, 4))
def test_prompt_ids_prefix_training_ids(template, family, conv, k):
    "Asking for an answer gives the same ids the model was trained on, up to the answer (also one starting with a space)."
    if family not in TOKENIZERS and family not in REAL: pytest.skip("real test tokenizers need mistral-common")
    tok = TOKENIZERS.get(family) or REAL[family]
    if template == "plain": conv = conv[:2]
    if has_special(conv, tok): return
    full = tokenize_conversation(conv, tok, template, num_image_tokens=k).input_ids
    for end in range(1, len(conv), 2):
        p = tokenize_prompt(conv[:end], tok, template, num_image_tokens=k)
        assert full[:len(p)] == p, (end, tok.convert_ids_to_tokens(p[-3:]), tok.convert_ids_to_tokens(full[len(p) - 3:len(p) + 1]))

@needs_real
@pytest.mark.parametrize("family", ["sentencepiece", "sentencepiece-nonlegacy", "bpe-qwen2", "bpe-llama3"])
@pytest.mark.parametrize("template", ["vicuna_v1", "llama_2", "chatml", "chatml_direct", "mistral_instruct", "qwen_1_5",
                                      "llava_llama_3", "plain"])
def test_real_tokenizers_vqa_answers(template, family):
    "Every one- and two-round record supervises exactly the tokens generation must write (the issue's 16 cases and more)."
    tok = REAL[family]
    for a in VQA_ANSWERS:
        one = [{"from": "human", "value": "<image>\nHow many?"}, {"from": "gpt", "value": a}]
        for conv in [one] if template == "plain" else [one, one + [{"from": "human", "value": "More?"}, {"from": "gpt", "value": a}]]:
            t = verify_masking(conv, tok, template, num_image_tokens=3)
            assert len(trained_runs(t)) == len(conv) // 2

@needs_real
@pytest.mark.parametrize("family", ["sentencepiece", "sentencepiece-nonlegacy", "bpe-qwen2", "bpe-llama3"])
@pytest.mark.parametrize("template", ["vicuna_v1", "llama_2"])
@settings(max_examples=40, deadline=None)
@given(conv=conversations(), k=st.integers(1, 3))
def test_real_tokenizers(template, family, conv, k):
    check(conv, REAL[family], template, k)
