"""Every figure the README, RESULTS.md or a lesson's prose quotes from a committed result (`bench/results/*.json`) is
the figure in that file: each claim below renders its sentence from the JSON and the sentence must stand, word for word,
in the text that quotes it. Rerun a benchmark and the sentences that quote it fail until they are updated (or the other
way round).
"""

import json
import re
from functools import cache, reduce
from pathlib import Path

import pytest

from llava_nb.core import QTYPES

ROOT = Path(__file__).resolve().parents[1]


@cache
def R(name: str) -> dict:
    "A committed result, `bench/results/<name>.json`."
    return json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())


@cache
def text_of(rel: str) -> str:
    "The prose of a file: a notebook's markdown cells (joined), or a text file as it is."
    path = ROOT / rel
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def mmss(seconds: float) -> str:
    "`156` -> `2 min 36 s`, as the prose writes a wall time."
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s} s"


def first_step(log: list, key: str, at_least: float):
    "The first logged step whose `key` reaches `at_least` (None: never)."
    return next((r["step"] for r in log if r.get(key, 0) >= at_least), None)


A077 = "short-answer grammar (shipped at a077ba1)"  # the model shipped before the LLM read the short-answer grammar


def qs(seed: int = 0) -> dict:
    return R("quickstart_summary" if seed == 0 else "quickstart_summary_seed1")["eval"]


def _vqa():
    a, b = qs(0), qs(1)
    return f"in the training phrasings **{a['vqa_accuracy']:.3f}** / {b['vqa_accuracy']:.3f}"


def _vqa_types():
    a, b = qs(0)["by_type"], qs(1)["by_type"]
    two = (qs(0)["by_objects"]["2+ objects"], qs(1)["by_objects"]["2+ objects"])
    return (
        f"2+ objects {two[0]:.2f} / {two[1]:.2f}; count {a['count']:.2f} / {b['count']:.2f}, relative position "
        f"{a['relative_position']:.2f} / {b['relative_position']:.2f}"
    )


def _heldout():
    a, b = qs(0)["heldout"], qs(1)["heldout"]
    ta, tb = a["by_type"], b["by_type"]
    return (
        f"**In phrasings no training data uses: {a['vqa_accuracy']:.3f} / {b['vqa_accuracy']:.3f}** (goal ≥ 0.90; "
        f"before issue 27: 0.323), count {ta['count']:.2f} / {tb['count']:.2f}, relative position "
        f"{ta['relative_position']:.2f} / {tb['relative_position']:.2f}, existence {ta['existence']:.2f} / "
        f"{tb['existence']:.2f}"
    )


def _wild():
    w = qs(0)["wild"]
    t = w["by_type"]
    return (
        f"the shipped recipe: **{w['accuracy']:.3f}** (colour {t['color']:.2f}, shape {t['shape']:.2f}, count "
        f"{t['count']:.2f}, existence {t['existence']:.2f}"
    )


def _relative():
    a, b = qs(0)["relative_score"], qs(1)["relative_score"]
    return (
        f"**{a['overall']:.1f} %** / {b['overall']:.1f} % overall (paper: 85.1 % vs GPT-4), conversation "
        f"{a['conversation']:.1f}, detail {a['detail']:.1f}, complex reasoning {a['complex']:.1f}"
    )


def _relative_heldout():
    a, b = qs(0)["heldout"]["relative_score"], qs(1)["heldout"]["relative_score"]
    return f"**{a['overall']:.1f} %** / {b['overall']:.1f} % on the same bench asked in held-out words"


def _mc():
    return f"ScienceQA-style multiple choice **{qs(0)['mc_accuracy']:.2f}** / {qs(1)['mc_accuracy']:.2f}"


def _quickstart_wall():
    return f"with the wild test set and the MFU figures added to its evaluation (issues 28, 31): " + mmss(
        R("quickstart_summary")["wall_seconds"]
    )


def _masking(row: int):
    r = R("masking_throughput")["rows"][row]
    what = ("vicuna_v1, Llama-style tokenizer", "chatml, byte-level tokenizer")[row]
    tail = " for per-turn re-tokenisation" if row == 0 else ""
    return (
        f"| masking, {what} | {r['ours_conv_per_s']:,.0f} conv/s vs {r['baseline_conv_per_s']:,.0f}{tail} "
        f"({r['speedup']:.2f}×) |"
    )


def _chat():
    c = R("chat_latency")
    o, t, s = c["ours"], c["transformers"], c["speedup"]
    return (
        f"{o['ttft_ms']:.1f} ms vs {t['ttft_ms']:.1f} ms ({s['ttft']:.2f}×) / {o['tokens_per_s']:.1f} vs "
        f"{t['tokens_per_s']:.1f} tok/s ({s['tokens_per_s']:.2f}×)"
    )


def _datagen():
    one, eight = R("datagen_throughput")["results"]
    x = eight["records_per_second"] / one["records_per_second"]
    one_s, eight_s = one["records_per_second"], eight["records_per_second"]
    return f"{one_s:.1f} records/s at concurrency 1, {eight_s:.1f} at concurrency 8 ({x:.1f}×"


def _share_prefix():
    on, off = R("laptop_settings_share_prefix")["rows"]
    x = on["samples_per_second"] / off["samples_per_second"]
    a, b = on["samples_per_second"], off["samples_per_second"]
    return f"{a:.1f} samples/s shared vs {b:.1f} once per row (**{x:.2f}×**)"


def _throughput(stage: int):
    s = R("train_throughput")["stages"][stage - 1]
    o, b = s["ours"], s["baseline"]
    return (
        f"{o['samples_per_s']:.0f} vs {b['samples_per_s']:.0f} samples/s, {o['tokens_per_s'] / 1e3:.1f}k vs "
        f"{b['tokens_per_s'] / 1e3:.1f}k tokens/s (**{o['samples_per_s'] / b['samples_per_s']:.2f}×**"
    )


def _slow_day():
    "RESULTS.md's sentence on the same throughput bench on a day of half the bf16 peak."
    st = R("train_throughput_slow_day")["stages"]
    sp = [s["ours"]["samples_per_s"] / s["baseline"]["samples_per_s"] for s in st]
    return (
        f"bf16 matmul peak measured {st[0]['mfu']['peak_tflops']:.2f} TFLOP/s instead of about 0.95, the same "
        "commit gave "
        f"**{sp[0]:.2f}× / {sp[1]:.2f}×**"
    )


def _mfu():
    m = R("mfu")["AMD EPYC"]
    p, f32, b16 = m["peak_tflops"], m["precisions"]["fp32"], m["precisions"]["bf16"]
    pct = lambda d: f"{100 * d['mfu']:.0f} %"
    return (
        f"peak fp32 {p['fp32']:.3f}, bf16 {p['bf16']:.3f} TFLOP/s. fp32: stage 1 **{pct(f32['stage1'])}**, stage 2 "
        f"**{pct(f32['stage2'])}**, greedy decoding {pct(f32['generation'])}; bf16: stage 1 **{pct(b16['stage1'])}**, "
        f"stage 2 **{pct(b16['stage2'])}**, decoding {pct(b16['generation'])}"
    )


def _plateau(prefix: str):
    fast = [first_step(R(f"picking_plateau_init0.0625{s}")["log"], "2+ objects", 0.95) for s in ("", "_seed1")]
    slow = [R(f"picking_plateau_init0.02{s}")["log"] for s in ("", "_seed1")]
    esc = first_step(slow[0], "2+ objects", 0.95)
    stuck = slow[1][-1]["2+ objects"]
    assert first_step(slow[1], "2+ objects", 0.95) is None
    if prefix == "readme":
        return (
            f"init std 1/√256 = 0.0625: step {fast[0]} / {fast[1]} (seeds 0 / 1); init 0.02: step {esc} / not by "
            f"{slow[1][-1]['step']} ({stuck:.2f})"
        )
    return (
        f"the model picks within {min(fast)} to {max(fast)} steps in both seeds; with 0.02 one\nseed escapes after "
        f"{esc} steps and the other is still guessing ({stuck:.2f}) at step {slow[1][-1]['step']}."
    )


def _fetch_heads():
    fetch = R("picking_circuit_probe")["shipped"]["color"]["fetch"]  # (layers, heads): attention to the colour word
    heads = [v for layer in fetch[1:] for v in layer if v >= 0.5]
    words = {3: "three", 4: "four", 5: "five", 6: "six"}
    share = f"{min(heads):.2f}–{max(heads):.2f}"
    return f"{words[len(heads)]}\nheads at the answer position look at the colour word with {share}"


def _causes():
    n = len(re.findall(r"\*\*\d\. ", text_of("nbs/07e_smallworld_llm.ipynb")))
    return {4: "Four", 5: "Five"}[n] + " causes kept the nano model on that plateau"


def _offset(name: str) -> str:
    "The picking-by-place probe's rows as RESULTS.md quotes them."
    table = R(name)["table"]
    by = {k.split("'")[1]: f"{r['accuracy']:.2f}" for k, r in table.items()}  # "the {shape}" -> "0.50"
    first = "colour of 'the {shape}'"
    chance = f"{table[first]['random pick']:.2f}"
    if name.endswith("format2"):
        return (
            f'("the red one" {by["the {colour} one"]}, "the object that is red" {by["the object that is {colour}"]}, '
            f'"the red" {by["the {colour}"]}); no shape word does, wherever it stands ("the triangle" '
            f'{by["the {shape}"]}, "the triangle object" {by["the {shape} object"]}; random {chance})'
        )
    return (
        f'("the triangle" {by["the {shape}"]}, "the triangle object" {by["the {shape} object"]}, "the object that is a '
        f'triangle" {by["the object that is a {shape}"]}; "the red one" {by["the {colour} one"]})'
    )


def _amd_bf16():
    rows = {(r["stage"], r["precision"]): r["samples_per_second"] for r in R("laptop_settings_amd_epyc")["rows"]}
    return f"{rows[1, 'bf16']} vs {rows[1, 'fp32']} samples/s in stage 1"


def _laptop_wall():
    return f"run ({mmss(R('quickstart_summary')['wall_seconds'])} on this project's 2-core AMD EPYC with native bf16"


def _fixes():
    n = len(re.findall(r"\*\*\d\. ", text_of("nbs/07e_smallworld_llm.ipynb")))
    return {4: "four", 5: "five"}[n] + " fixes, each found in a small replica"


def _first_screen():
    return f"| **{mmss(R('quickstart_summary')['wall_seconds'])}** on an AMD EPYC with native bf16"


def _first_screen_accuracy():
    e = R("quickstart_summary")["eval"]
    return (
        f"| `runs/quickstart/`: a LLaVA that answers **{e['vqa_accuracy']:.3f}** of held-out questions "
        f"({e['heldout']['vqa_accuracy']:.3f} in phrasings it never trained on)"
    )


def _workshop_quickstart():
    return f"`make quickstart` (**{mmss(R('quickstart_summary')['wall_seconds'])}** measured"


def _heldout_row(qtype: str):
    "A row of RESULTS.md's in-template / held-out table: seed 0's and seed 1's columns from the summaries."
    a, b = qs(0), qs(1)
    if qtype == "all":
        x, y = (a["vqa_accuracy"], a["heldout"]["vqa_accuracy"]), (b["vqa_accuracy"], b["heldout"]["vqa_accuracy"])
        return f"| **{x[0]:.3f} / {x[1]:.3f}** | **{y[0]:.3f} / {y[1]:.3f}** |"
    x = (a["by_type"][qtype], a["heldout"]["by_type"][qtype])
    y = (b["by_type"][qtype], b["heldout"]["by_type"][qtype])
    return f" | {x[0]:.3f} / **{x[1]:.3f}** | {y[0]:.3f} / {y[1]:.3f} |"


def _anyres_row(world: str, mode: str):
    "A row of the README's anyres table (`bench/anyres_smallworld.py`)."
    run = next(r for r in R("anyres_smallworld")["runs"] if (r["world"], r["mode"]) == (world, mode))
    a, t = run["after"], run["after"]["by_type"]
    cells = [a["accuracy"], t["shape"], t["size"], t["count"]]
    return " | ".join(f"{v:.3f}" for v in cells)


def _anyres_text(s: str) -> str:
    "The README's anyres table with its bold marks taken out, so a row reads as numbers."
    return s.replace("**", "")


def _stage1_transfer():
    d = R("stage1_transfer")
    images, scene = d["image_tokens"]["accuracy"], d["scene_tokens"]["overall"]
    return f"VQA **{images:.3f}** on images vs **{scene:.3f}** for its LLM on scene tokens"


def _robust():
    v = R("robust_vision")["variety 0.5, tower 600 steps, seed 0"]
    w, b = v["wild by type"], v["by type"]
    return (
        f"wild **{v['wild']:.3f}** (colour {w['color']:.2f}, count {w['count']:.2f}, existence "
        f"{w['existence']:.2f}, shape {w['shape']:.2f}) but the plain held-out world falls "
        f"{R('robust_vision')['shipped recipe']['in-distribution VQA']:.3f} → "
        f"{v['in-distribution VQA']:.3f} (relative position "
        f"{b['relative_position']:.2f})"
    )


def _wild_probes():
    "RESULTS.md's sentence on probes of the shipped and the varied tower (`bench/wild_before_after.py`)."
    p = R("wild_before_after")["probes"]
    ww = lambda who, attr: f"{p[who][attr]['wild -> wild']:.2f}"  # keys of `robust_vision.wild_probe`
    return (
        f"a probe trained on wild pictures reads their colour {ww('before', 'color')} → **{ww('after', 'color')}** "
        "and "
        f"their shape {ww('before', 'shape')} → {ww('after', 'shape')} (chance 0.17)"
    )


def _wild_lesson():
    "07i's sentences on the wild set before and after, and on the probes (`bench/wild_before_after.py`)."
    b = R("wild_before_after")
    p = lambda who, attr, kind: f"{b['probes'][who][attr][kind]:.2f}"
    ss = R("shape_shift_replica")
    final = lambda patch: f"{ss[f'patch {patch}, shift ±0.45, scale ≤x1.5, 400 steps, seed 0']['final']:.2f}"
    return [
        f"even for a probe trained on wild pictures ({p('before', 'color', 'wild -> wild')}), and a probe trained on "
        f"its own look reads it at chance ({p('before', 'color', 'wild')})",
        f"The varied tower holds it ({p('after', 'color', 'wild -> wild')}), and the direction learned on plain "
        f"pictures carries over ({p('after', 'color', 'wild')})",
        f"({p('before', 'shape', 'wild -> wild')} / {p('after', 'shape', 'wild -> wild')}; six shapes, chance 0.17)",
        f"with 8 px patches ({final(8)}) and not with 24 px ones ({final(24)})",
        f"(a probe: {p('before', 'color', 'wild -> wild')} → {p('after', 'color', 'wild -> wild')}) and lifts the "
        f"wild set from {b['accuracy']['before']:.2f} to {b['accuracy']['after']:.2f}",
    ]


def _position_std():
    "RESULTS.md's sentence on the supervised 8 px tower with train_vision's position init (`shape_shift_replica`)."
    key = "patch 8, shift ±0.45, scale ≤x1.5, 400 steps, seed 0, position embeddings init 0.5"
    r = R("shape_shift_replica")[key]
    return f"instead of CLIP's 0.02, the 8 px tower reaches **{r['final']:.2f}** at 400 steps"


def _contrastive_shapes():
    "RESULTS.md's sentence on the contrastive 8 px tower with either position init (`contrastive_tower_shapes`)."
    r = R("contrastive_tower_shapes")
    key = "patch 8, attribute weight 4.0, variety 0.5, position init {}, 600 steps, seed 0"
    a, b = r[key.format(0.02)], r[key.format(0.5)]
    ss = R("shape_shift_replica")
    shipped = [
        ss[f"probe of the shipped tower, shift ±{m}, mean token"]["shape probe"]
        for m in ("0.45, scale ≤x1.5", "0.0, scale ≤x1.0")
    ]
    return (
        f"the probe of its tokens side by side reads a moved shape **{a['moved']:.2f}** (with 0.5: {b['moved']:.2f}; "
        f"centred {a['centred']:.2f} / {b['centred']:.2f}), but that probe (81 × 128 numbers fitted on 1,200 "
        "pictures) underestimates a fine-patch tower: the mean of its tokens reads a moved shape "
        f"**{a['moved, mean token']:.2f}** and a centred one {a['centred, mean token']:.2f}, against the shipped 24 px "
        f"tower's {shipped[0]:.2f} and {shipped[1]:.2f}"
    )


def _description_order():
    "RESULTS.md's paragraph on descriptions in reading order (`bench/description_order.py`)."
    d = R("description_order")
    a, b = [(d[f"seed {k}"]["mixed (shipped)"], d[f"seed {k}"]["reading order"]) for k in (0, 1)]
    brief = d["seed 0"]["reading order + brief captions for 33% of the scenes"]
    arrow = lambda key, f: f"{a[0][key]:{f}} -> {a[1][key]:{f}} / {b[0][key]:{f}} -> {b[1][key]:{f}}"
    pct = lambda x: f"{round(100 * x)} %"
    said = lambda key: f"{pct(a[0][key])} -> {pct(a[1][key])} / {pct(b[0][key])} -> {pct(b[1][key])}"
    twice = [x["descriptions"]["name one object twice"] for x in (a[1], b[1])]
    return (
        f"one object named twice in {twice[0]} / {twice[1]} of 30 descriptions, description F1 "
        f"{arrow('description F1 (pooled)', '.2f')}, the judge's detail score "
        f"{arrow('relative score, detail', '.1f')}, multiple choice {arrow('multiple choice', '.2f')}. The cost: asked "
        "for a description in held-out words, the model answers more of them with a one-sentence caption of the "
        'stage-1 kind ("A picture with three shapes: one red shape, one blue shape and one purple shape."): described '
        f"{said('held-out requests: described')}, F1 {arrow('held-out requests: F1', '.2f')}. Brief-caption records "
        "in stage 2 as well, so that a request's words say which kind it wants (`--brief 0.33`, seed 0), do not bring "
        f"them back ({pct(brief['held-out requests: described'])}) and give back some of the gain (F1 "
        f"{brief['description F1 (pooled)']:.2f})"
    )


def _description_order_lesson():
    "07a's sentence on the order of a description's objects (`bench/description_order.py`, seed 0)."
    d = R("description_order")["seed 0"]
    f1 = lambda name: f"{d[name]['description F1 (pooled)']:.2f}"
    return f"description F1 {f1('mixed (shipped)')} -> {f1('reading order')} (seed 0, `bench/description_order.py`"


def _second_phase():
    "RESULTS.md's sentence on the LLM's second pretraining phase (`bench/llm_second_phase.py`)."
    d = R("llm_second_phase")["no stray words"]
    (a0, a1), (b0, b1) = [(d[f"seed {k}"]["phase-1 LLM"], d[f"seed {k}"]["after the second phase"]) for k in (0, 1)]
    arrow = lambda key, f: f"{a0[key]:{f}} -> {a1[key]:{f}} / {b0[key]:{f}} -> {b1[key]:{f}}"
    pct = lambda x: f"{round(100 * x)} %"
    described = f"{pct(a0['described'])} -> {pct(a1['described'])} / {pct(b0['described'])} -> {pct(b1['described'])}"
    return (
        f"in-template {arrow('vqa', '.3f')} (relative position {a0['relative_position']:.2f} -> "
        f"{a1['relative_position']:.2f} in seed 0), the second held-out table {arrow('second held-out table', '.3f')}, "
        f"multiple choice {arrow('mc', '.2f')}, but held-out words {arrow('held-out words', '.3f')} and descriptions "
        f"asked in held-out ways {described} described"
    )


def _stray_words(entry: str = "stray words 0.3"):
    "RESULTS.md's sentence on a second phase with stray words (`bench/llm_second_phase.py`)."
    d = R("llm_second_phase")[entry]
    (a0, a1), (b0, b1) = [(d[f"seed {k}"]["phase-1 LLM"], d[f"seed {k}"]["after the second phase"]) for k in (0, 1)]
    arrow = lambda key, f: f"{a0[key]:{f}} -> {a1[key]:{f}} / {b0[key]:{f}} -> {b1[key]:{f}}"
    return (
        f"held-out words {arrow('held-out words', '.3f')}, the second table {arrow('second held-out table', '.3f')}, "
        f"multiple choice {arrow('mc', '.2f')}"
    )


def _fourth_phase():
    "RESULTS.md's sentence on a fourth pretraining phase in reading order (`bench/llm_second_phase.py --order`)."
    d = R("llm_second_phase")["a fourth phase, reading order"]
    a, b = d["seed 0"]["before"], d["seed 0"]["after"]
    arrow = lambda key, f: f"{a[key]:{f}} -> {b[key]:{f}}"
    return (
        f"describes more ({round(100 * a['described'])} % -> {round(100 * b['described'])} %) but not better (F1 "
        f"{arrow('description f1', '.2f')}) and loses the reading it was meant to help: held-out words "
        f"{arrow('held-out words', '.3f')}, the second table {arrow('second held-out table', '.3f')}, multiple choice "
        f"{arrow('mc', '.2f')} (in-template count {arrow('count', '.3f')})"
    )


def _description_requests_before():
    "07a's sentence on the second set of held-out description requests, asked of the model shipped before the grammar."
    d = R("description_requests")["shipped before the grammar"]["sets"]["second"]
    return f"got a description {round(100 * d['described'])} % of the time (`bench/description_requests.py`)"


def _description_grammar():
    "RESULTS.md's paragraph on the description grammar (`bench/description_requests.py`, the summaries)."
    d = R("description_requests")
    before = d["shipped before the grammar"]["sets"]
    s0, s1 = d["requests composed, seed 0"], d["requests composed, seed 1"]
    (a0, b0), (a1, b1) = [(x["shipped recipe"], x["requests composed"]) for x in (s0, s1)]
    pct = lambda x: f"{round(100 * x)} %"
    arrow = lambda k, f, bold="": f"{a0[k]:{f}} -> {bold}{b0[k]:{f}}{bold} / {a1[k]:{f}} -> {bold}{b1[k]:{f}}{bold}"
    described = (
        f"{pct(a0['held-out requests: described'])} -> **{pct(b0['held-out requests: described'])}** / "
        f"{pct(a1['held-out requests: described'])} -> **{pct(b1['held-out requests: described'])}**"
    )
    second = [x["sets"]["second"] for x in (s0, s1)]
    shipped = R("plain_questions")["shipped (description requests from a grammar), seed 0"]
    was = R("plain_questions")["shipped (descriptions in reading order), seed 0"]
    q = "What color is it?"
    return (
        f"described a scene in {pct(before['first']['described'])} of the requests of the first set (F1 "
        f"{before['first']['f1']:.2f}) and in {pct(before['second']['described'])} of a second set of ten (F1 "
        f"{before['second']['f1']:.2f}), written and committed before any change (`HELD_OUT_DESCRIBE_B`, d3b9a7d): "
        f"{before['second']['kinds']['short']} of those 60 replies were a short answer to a question never asked "
        f'("What is there in the image?" -> "yes", "Explain the picture to me." -> "object: yes") and '
        f"{before['second']['kinds']['caption']} a one-line caption",
        f"held-out requests described {described}, F1 {arrow('held-out requests: F1', '.2f', '**')}; the second set, "
        f"never used to tune the grammar (it was read once, on the model before), {pct(second[0]['described'])} / "
        f"{pct(second[1]['described'])} (F1 {second[0]['f1']:.2f} / {second[1]['f1']:.2f}); the judge in held-out "
        f"words {arrow('relative score, held-out words', '.1f', '**')}. The cost is on short answers in held-out "
        f"words: held-out words {arrow('held-out words', '.3f')}",
        f"multiple choice {arrow('multiple choice', '.2f')}; in-template {arrow('VQA', '.3f')}; asked a plain "
        f'question about a one-object scene (`bench/plain_questions.py`), "{q}" {was["right"][q]} -> '
        f"{shipped['right'][q]} of 20 by the first word, the ten others a description",
    )


def _grammar_size():
    "RESULTS.md's count of the description grammar's requests (`symbolic.DESCRIPTION_GRAMMAR`)."
    from llava_nb.smallworld.symbolic import DESCRIBE_PICTURES, DESCRIBE_QUESTIONS, DESCRIBE_TASKS, DESCRIPTION_GRAMMAR
    from llava_nb.smallworld.symbolic import DESCRIBE_WRAPPERS

    return (
        f"({len(DESCRIBE_TASKS)} tasks about {len(DESCRIBE_PICTURES)} picture words in {len(DESCRIBE_WRAPPERS)} "
        f"wrappers, and {len(DESCRIBE_QUESTIONS)} questions: {len(DESCRIPTION_GRAMMAR)} requests;"
    )


def _imperatives():
    "RESULTS.md's sentence on the description grammar without its questions (`bench/description_requests.py`)."
    d = R("description_requests")["requests imperative, seed 0"]
    b, sets = d["requests imperative"], d["sets"]
    types = b["held-out words by type"]
    plain = R("plain_questions")["description grammar without its questions (not shipped), seed 0"]
    return (
        f"the requests are still described ({round(100 * sets['first']['described'])} % / "
        f"{round(100 * sets['second']['described'])} % of the two sets, F1 {sets['first']['f1']:.2f} / "
        f"{sets['second']['f1']:.2f}) and the short answers fare no better: held-out words {b['held-out words']:.3f} "
        f'(count {types["count"]:.2f}, existence {types["existence"]:.2f}), "What color is it?" again '
        f"{plain['right']['What color is it?']} of 20 by the first word, the ten others a description; multiple "
        f"choice {b['multiple choice']:.2f}"
    )


def _one_description_record():
    "RESULTS.md's sentence on one description record a scene (`quickstart_summary_detail1.json`)."
    h = R("quickstart_summary_detail1")["eval"]["heldout"]
    a, b = h["describe"], h["second_set"]["describe"]
    plain = R("plain_questions")["one description record a scene (not shipped), seed 0"]["right"]["What color is it?"]
    return (
        f"gives held-out words {h['vqa_accuracy']:.3f} (count {h['by_type']['count']:.2f}, existence "
        f"{h['by_type']['existence']:.2f}), the held-out requests described {round(100 * a['described'])} % / "
        f"{round(100 * b['described'])} % (F1 {a['f1']:.2f} / {b['f1']:.2f}), and \"What color is it?\" {plain} of 20"
    )


def _short_answer_records():
    "RESULTS.md's sentence on LLaVA-1.5's short-answer records (`quickstart_summary_vqa3.json`)."
    e = R("quickstart_summary_vqa3")["eval"]
    h = e["heldout"]
    plain = R("plain_questions")["short-answer records, 3 questions a scene (not shipped), seed 0"]["right"]
    return (
        f"gives held-out words {h['vqa_accuracy']:.3f} (count {h['by_type']['count']:.2f}, relative position "
        f"{h['by_type']['relative_position']:.2f}) and \"What color is it?\" {plain['What color is it?']} of 20, "
        f"in-template {e['vqa_accuracy']:.3f}"
    )


def _answer_grammar():
    "RESULTS.md's paragraph on the short-answer grammar (`bench/answer_requests.py`, `bench/heldout_misses.py`)."
    d, misses = R("answer_requests"), R("heldout_misses")
    tasks = d["tasks in wrappers (no question forms), seed 0"]["answers composed"]["held-out tables"]
    (a0, b0), (a1, b1) = [
        (d[f"answers composed, seed {k}"]["shipped recipe"], d[f"answers composed, seed {k}"]["answers composed"])
        for k in (0, 1)
    ]
    table = lambda row, t: row["held-out tables"][t]["accuracy"]
    arrows = lambda t, bold="**": (
        f"{table(a0, t):.3f} -> {bold}{table(b0, t):.3f}{bold} / {table(a1, t):.3f} -> {bold}{table(b1, t):.3f}{bold}"
    )
    arrow = lambda k, f, bold="": f"{a0[k]:{f}} -> {bold}{b0[k]:{f}}{bold} / {a1[k]:{f}} -> {bold}{b1[k]:{f}}{bold}"
    count = lambda name: misses[name]["tables"]["first"]["count: Count the {things}."]["right"]
    third = lambda name, frame: misses[name]["tables"]["third"][f"relative_position: {frame}"]
    positioned, whether = "Is {ra} positioned {r} {rb}?", "Say whether or not {ra} is {r} {rb}."
    q = "What color is it?"
    plain = R("plain_questions")
    honest = lambda row: round(100 * row["honest about absent things"])
    all200 = lambda name: f"{100 * R('honest_absent')[name]['honest']:.1f}"
    pairs = ((a0, b0), (a1, b1))
    return (
        f"the model shipped then scored {table(a0, 'third'):.3f} on it (relative position "
        f"{a0['held-out tables']['third']['by_type']['relative_position']:.2f}, existence "
        f"{a0['held-out tables']['third']['by_type']['existence']:.2f}",
        f"The tasks and wrappers alone (seed 0, commit e48f479) mended the first table ({table(a0, 'first'):.3f} -> "
        f"{tasks['first']['accuracy']:.3f}; \"Count the {{things}}.\" "
        f"{count('description grammar (shipped at 500da72)')}"
        f" -> {count('tasks in wrappers (no question forms), seed 0')} of 33) but moved neither untuned table (second "
        f"{table(a0, 'second'):.3f} -> {tasks['second']['accuracy']:.3f}, third {table(a0, 'third'):.3f} -> "
        f"{tasks['third']['accuracy']:.3f})",
        f"first table {arrows('first')}, second {arrows('second')}, third {arrows('third', '')}; the quickstart's "
        f"held-out words {arrow('held-out words', '.3f', '**')}, in-template {arrow('VQA', '.3f')}, the judge in "
        f"held-out words {arrow('relative score, held-out words', '.1f')}, multiple choice "
        f"{arrow('multiple choice', '.2f')}; \"{q}\" "
        f"{plain['shipped (description requests from a grammar), seed 0']['right'][q]} -> "
        f"{plain['shipped (short answers from a grammar), seed 0']['right'][q]} of 20",
        f'"{positioned}" {third(A077, positioned)["right"]} of 43 / {third("composed, seed 1", positioned)["right"]}'
        f' of 43, "{whether}" {third(A077, whether)["right"]} / {third("composed, seed 1", whether)["right"]} of 42'
        f"), and honesty about absent things fell {' / '.join(f'{honest(a)} -> {honest(b)} %' for a, b in pairs)}",
        "asked on all 200 test scenes, `bench/honest_absent.py`: "
        + " / ".join(
            f"{all200(f'short answers listed, seed {k}')} -> {all200(f'short answers from a grammar, seed {k}')} %"
            for k in (0, 1)
        ),
    )


def _fourth_table():
    "RESULTS.md's paragraph on the fourth held-out table (`bench/heldout_misses.py`, `bench/answer_requests.py`)."
    m = R("heldout_misses")
    acc = lambda name: f"{m[name]['scores']['fourth']['accuracy']:.3f}"
    fifth = lambda name: f"{m[name]['scores']['fifth']['accuracy']:.3f}"
    frame = lambda name, f: m[name]["tables"]["fourth"][f]
    got = lambda name, f: f"{frame(name, f)['right']} of {frame(name, f)['n']}"
    ref = R("answer_requests")["reference first, seed 0"]
    tables = lambda row, t: f"{row['held-out tables'][t]['accuracy']:.3f}"
    before, after = ref["shipped recipe"], ref["answers composed"]
    relative_to = "relative_position: Relative to {rb}, is {ra} {r1} or {r2} it?"
    first, was = [m[name]["tables"]["first"][relative_to] for name in ("reference first, seed 0", A077)]
    yes_no = "relative_position: Answer yes or no: is {ra} {r} {rb}?"
    return (
        f"The model shipped now scores {acc(A077)} on it, the one before the short-answer grammar "
        f"{acc('description grammar (shipped at 500da72)')} (seed 1: {acc('composed, seed 1')} against "
        f"{acc('description grammar, seed 1')})",
        f"\"Which of the shapes is {{ref}}?\" {got(A077, 'shape: Which of the shapes is {ref}?')}",
        f"\"Can I see {{thing}} in this image?\" {got(A077, 'existence: Can I see {thing} in this image?')}",
        f"the first table's \"Relative to {{rb}}, ...\" {was['right']} -> {first['right']} of {first['n']} "
        f"(first table {tables(before, 'first')} -> {tables(after, 'first')}), but the fourth table, untuned, "
        f"{tables(before, 'fourth')} -> {tables(after, 'fourth')}",
        f"\"Answer yes or no: is {{ra}} {{r}} {{rb}}?\" {frame(A077, yes_no)['right']} -> "
        f"{got('reference first, seed 0', yes_no)}",
        "A fifth table, written after the grammar and touched by nothing since (`HELD_OUT_QUESTIONS_E`: hedges and "
        "follow-ups around a known core, \"I'm curious where {ref} is.\", \"And the number of {things}?\"): "
        f"{fifth('description grammar (shipped at 500da72)')} -> {fifth(A077)} / "
        f"{fifth('description grammar, seed 1')} -> {fifth('composed, seed 1')}",
    )


def _grammar_phase():
    "RESULTS.md's paragraph on a fourth LLM phase in the grammars' words (`bench/llm_second_phase.py --grammar`)."
    d = R("llm_second_phase")
    mixed = d["a fourth phase, the grammars' words"]["seed 0"]
    reading = d["a fourth phase, the grammars' words, reading order"]["seed 0"]
    b, a, r = mixed["before"], mixed["after"], reading["after"]
    m = R("heldout_misses")
    table = lambda name, t: f"{m[name]['scores'][t]['accuracy']:.3f}"
    grammar, ordered = (
        "a fourth LLM phase in the grammars' words, seed 0",
        ("a fourth LLM phase in the grammars' words, reading order, seed 0"),
    )
    by = lambda row, k: f"{row['held-out by type'][k]:.2f}"
    answers, only = (
        "a fourth phase, the short-answer grammar's words",
        ("a fourth LLM phase in the short-answer grammar's words, seed 0"),
    )
    o = d[answers]["seed 0"]["after"]
    assert o["described"] == 1.0  # "with every held-out request described"
    return (
        f"held-out words {b['held-out words']:.3f} -> {a['held-out words']:.3f} (relative position "
        f"{by(b, 'relative_position')} -> {by(a, 'relative_position')}: every type above 0.85), the third table "
        f"{table(A077, 'third')} -> {table(grammar, 'third')}, in-template count {b['count']:.2f} -> "
        f"{a['count']:.2f}, honest {round(100 * b['honest'])} -> {round(100 * a['honest'])} %; but descriptions lost "
        f"(F1 {b['description f1']:.2f} -> {a['description f1']:.2f}, held-out requests described "
        f"{round(100 * b['described'])} -> {round(100 * a['described'])} %, the judge in held-out words "
        f"{b['judge, held-out words']:.1f} -> "
        f"{a['judge, held-out words']:.1f}), the fifth table {table(A077, 'fifth')} -> {table(grammar, 'fifth')}, "
        f"the fourth {table(A077, 'fourth')} -> {table(grammar, 'fourth')}",
        f"With the phase's descriptions in reading order: held-out words {r['held-out words']:.3f}, the fifth table "
        f"{table(ordered, 'fifth')}, multiple choice {r['mc']:.2f}, but description F1 {r['description f1']:.2f} and "
        f"the second table {r['second held-out table']:.3f} "
        f"(size {m[ordered]['scores']['second']['by_type']['size']:.2f})",
        f"(`--grammar answers`, {round(d[answers]['second phase']['seconds'] / 60, 1)} min): held-out words "
        f"{b['held-out words']:.3f} -> {o['held-out words']:.3f} (count {by(o, 'count')}, relative position "
        f"{by(o, 'relative_position')}, existence {by(o, 'existence')}: every type above 0.85), description F1 "
        f"{b['description f1']:.2f} -> {o['description f1']:.2f} with every held-out request described, the judge in "
        f"held-out words {b['judge, held-out words']:.1f} -> {o['judge, held-out words']:.1f}, multiple choice "
        f"{b['mc']:.2f} -> {o['mc']:.2f}, the fourth table {table(A077, 'fourth')} -> {table(only, 'fourth')}, the "
        f"fifth {table(A077, 'fifth')} -> {table(only, 'fifth')}, the third {table(A077, 'third')} -> "
        f"{table(only, 'third')}",
    )


def _adopted_phase():
    "RESULTS.md's sentences on the adopted LLM phase's seed 1, sixth table and plain questions (`llm_second_phase`)."
    s1 = R("llm_second_phase")["a fourth phase, the short-answer grammar's words"]["seed 1"]
    b, a = s1["before"], s1["after"]
    by = lambda row, k: f"{row['held-out by type'][k]:.2f}"
    kinds = ("count", "relative_position", "existence")
    types = ", ".join(f"{k.replace('_', ' ')} {by(b, k)} -> {by(a, k)}" for k in kinds)
    sixth = lambda name: f"{R('heldout_misses')[name]['scores']['sixth']['accuracy']:.3f}"
    after = "a fourth LLM phase in the short-answer grammar's words, seed {}"
    it = lambda name: R("plain_questions")[name]["right"]["What color is it?"]
    before_it = ("shipped (short answers from a grammar), seed 0", "short answers from a grammar, seed 1")
    after_it = [f"the LLM's corpus with the short-answer grammar, seed {k}" for k in (0, 1)]
    after_it[0] = f"shipped ({after_it[0].removesuffix(', seed 0')}), seed 0"
    return (
        f"Seed 1 (`--seeds 1 --reuse`): held-out words {b['held-out words']:.3f} -> {a['held-out words']:.3f} "
        f"({types}), multiple choice {b['mc']:.2f} -> {a['mc']:.2f}, in-template count {b['count']:.2f} -> "
        f"{a['count']:.2f}, held-out requests described {round(100 * b['described'])} -> "
        f"{round(100 * a['described'])} % (F1 {b['description f1']:.2f} -> {a['description f1']:.2f})",
        f"{sixth(A077)} -> {sixth(after.format(0))} / {sixth('composed, seed 1')} -> {sixth(after.format(1))}",
        f"gets its colour first {it(before_it[0])} -> {it(after_it[0])} / {it(before_it[1])} -> {it(after_it[1])} "
        "times in 20",
    )


def _lone():
    "RESULTS.md's paragraph on a lone object called 'it' (`bench/lone_references.py`)."
    d = R("lone_references")
    runs = [
        (d[f"lone references 0.3, seed {k}"]["shipped recipe"], d[f"lone references 0.3, seed {k}"]["lone 0.3"])
        for k in (0, 1)
    ]
    pair = lambda get, fmt="{}": " / ".join(f"{fmt.format(get(b))} -> {fmt.format(get(a))}" for b, a in runs)
    plain = lambda q: pair(lambda r: r["plain questions"][q])
    sixth = lambda r: r["held-out tables"]["sixth"]["accuracy"]
    return (
        f'"What color is it?" answered with its colour first {plain("What color is it?")} of 20, "What colour is the '
        f'shape?" {plain("What colour is the shape?")}',
        f"{pair(lambda r: sum(r['untaught forms'].values()))} of 120",
        f"held-out words {pair(lambda r: r['held-out words'], '{:.3f}')}",
        f"in-template {pair(lambda r: r['VQA'], '{:.3f}')}, multiple choice "
        f"{pair(lambda r: r['multiple choice'], '{:.2f}')}, the judge in held-out words "
        f"{pair(lambda r: r['relative score, held-out words'], '{:.1f}')}, the sixth table "
        f"{pair(sixth, '{:.3f}')}",
    )


MC_SHIPPED = "shipped: three later phases, the last in the short-answer grammar's words"  # mc_lookup_probe's entry
NAMED = "naming another object's"  # mc_eval_size's count of wrong letters naming another object in the picture


def _mc_phase(longer: bool = False):
    "RESULTS.md's sentences on a later LLM phase weighted towards lettered items (`bench/mc_phase_replica.py`)."
    d = R("mc_phase_replica_1500" if longer else "mc_phase_replica")
    c, x = d["control"], d[f"{4 if longer else 2} more lettered items a scene"]
    shipped = R("mc_lookup_probe")[MC_SHIPPED]
    pair = lambda get, fmt="{:.2f}": f"{fmt.format(get(c))} -> {fmt.format(get(x))}"
    return (
        f"answers {shipped['image']['free']:.2f} of the image items free-form and letters "
        f"{shipped['image']['letter | free right']:.2f} of those",
        f"letters {pair(lambda r: r['mc']['image']['letter'])} of the image items and "
        f"{pair(lambda r: r['mc']['all']['letter'])} of all, the held-out tables "
        f"{pair(lambda r: r['tables']['held-out table'], '{:.3f}')} and "
        f"{pair(lambda r: r['tables']['second held-out table'], '{:.3f}')}",
        f"image items {pair(lambda r: r['mc']['image']['letter'])}, all {pair(lambda r: r['mc']['all']['letter'])}, "
        f"the held-out tables {pair(lambda r: r['tables']['held-out table'], '{:.3f}')} and "
        f"{pair(lambda r: r['tables']['second held-out table'], '{:.3f}')}",
    )


THREE = "three later phases (shipped at a38c86e)"  # the entries of the model shipped before the fourth LLM phase
SCENE_RUN = "4 more lettered items a scene, the scene's values as wrong options"  # bench/mc_phase_replica.py's entry
SCENE_ASKED = (  # bench/mc_lookup_probe.py --distractors scene: its entries
    "a fourth phase, four more items a scene with the scene's values as wrong options; asked so too",
    "shipped, the scene's values as wrong options",
    "a fourth phase, four more items a scene; asked with the scene's values as wrong options",
)


def _mc_levers():
    "RESULTS.md's sentences on two levers on multiple choice, its noise, its letters and its depth (issue 27)."
    levers, sizes, depth = R("mc_levers"), R("mc_eval_size"), R("mc_depth_probe")["shipped"]
    shipped = levers["shipped, seed 0"]
    mc = lambda r, k: r["multiple choice"]["all items"][k]
    words = lambda r: r["quickstart"]["held-out words"]
    pair = lambda b, get: f"{get(shipped):.3f} -> {get(b):.3f}"
    phase, stage2, scene = (levers[f"{k}, seed 0"] for k in ("fourth phase", "stage 2", "scene distractors"))
    longer = levers["fourth phase, 3,000 steps, scene distractors, seed 0"]
    options_of = lambda r: r["multiple choice"]["colour and shape items by options in the picture"]
    long_run = R("mc_phase_replica_scene_3000")[SCENE_RUN]["mc"]
    tables = R("mc_phase_replica_scene_3000")[SCENE_RUN]["tables"]
    in_picture = lambda k, t: sizes[k]["wrong letters in the picture"][t]
    llm = lambda d, run: f"{d[run]['mc']['image']['letter']:.2f}"
    asked = lambda name: f"{R('mc_lookup_probe')[name]['image']['letter']:.2f}"
    of = lambda k, t: f"{in_picture(k, t)[NAMED]} of {in_picture(k, t)['wrong']}"
    named = lambda k, sep=" and ": f"{of(k, 'color')}{sep}{of(k, 'shape')}"
    options = lambda k: sizes[k]["colour and shape items by options in the picture"]
    by_options = lambda part, key, fmt="{:.3f}": " / ".join(
        fmt.format(options(k)[part][key]) for k in (THREE, f"{THREE}, seed 1")
    )
    letters = lambda k: ", ".join(f"{v['right']:.2f}" for v in sizes[k]["by the right letter"].values())
    spread = sizes[THREE]["90-item slices"]["sd"]
    by_layer = lambda key: ", ".join(f"{v:.2f}" for v in depth["image"][key][1:])
    split = lambda m: [
        depth[m][f"letter | answer {w}"] for w in ("ready a layer before the last", "only in the last layer")
    ]
    (ready, late), (t_ready, t_late) = split("image"), split("text")
    return (
        f"multiple choice {pair(phase, lambda r: mc(r, 'all'))}, image items {pair(phase, lambda r: mc(r, 'image'))}, "
        f"text {pair(phase, lambda r: mc(r, 'text'))}, but held-out words {pair(phase, words)} (relative position "
        f"{pair(phase, lambda r: r['quickstart']['held-out by type']['relative_position'])})",
        f"multiple choice {pair(stage2, lambda r: mc(r, 'all'))}, image items "
        f"{pair(stage2, lambda r: mc(r, 'image'))}, held-out words {pair(stage2, words)}",
        f"spread by ±{spread['all']:.2f}, their image items by ±{spread['image']:.2f}",
        f"right {letters(THREE)} of the time in seed 0 ({letters(f'{THREE}, seed 1')} in seed 1)",
        f"in {by_layer('free-form answer by layer')} of the items, the letter in {by_layer('letter by layer')}",
        f"rest: {ready['right']:.3f} ({ready['n']} items) against {late['right']:.3f} ({late['n']}); in text items the "
        f"other way, {t_ready['right']:.3f} against {t_late['right']:.3f}",
        f"wrong colour and shape letters (image and text items) {named(THREE)} name another object in the picture "
        f"(seed 1: {named(f'{THREE}, seed 1', ', ')})",
        "where only the answer is, colour and shape items are right "
        f"{by_options('only the answer', 'right')} of the time; "
        f"where other options are too, {by_options('the answer and others', 'right')}, a coin toss between them "
        f"({by_options('only the answer', 'n', '{}')} and {by_options('the answer and others', 'n', '{}')} items)",
        f"multiple choice {pair(scene, lambda r: mc(r, 'all'))}, image items {pair(scene, lambda r: mc(r, 'image'))}: "
        "not adopted",
        f"the LLM alone letters {llm(R('mc_phase_replica_scene'), SCENE_RUN)} of the image items (with drawn wrong "
        f"options {llm(R('mc_phase_replica_1500'), '4 more lettered items a scene')}, the corpus as it is "
        f"{llm(R('mc_phase_replica_1500'), 'control')}), and of image items whose wrong options are the scene's values "
        f"{asked(SCENE_ASKED[0])} (the shipped LLM {asked(SCENE_ASKED[1])}, the drawn phase {asked(SCENE_ASKED[2])}",
        f"the LLM alone letters {long_run['image']['letter']:.2f} of the image items and "
        f"{long_run['all']['letter']:.2f} of all, the held-out tables flat ({tables['held-out table']:.3f}, "
        f"{tables['second held-out table']:.3f})",
        f"multiple choice {pair(longer, lambda r: mc(r, 'all'))}, image items "
        f"{pair(longer, lambda r: mc(r, 'image'))}, colour and shape items with other options in the picture "
        f"{pair(longer, lambda r: options_of(r)['the answer and others']['right'])}, held-out words "
        f"{pair(longer, words)}, but described in held-out ways with F1 "
        f"{pair(longer, lambda r: r['quickstart']['description f1'])} (goal 0.85) and in-template "
        f"{pair(longer, lambda r: r['quickstart']['vqa'])}",
    )


def _mc_lesson():
    "07e's sentences on the lookup since, and on what a wrong letter names."
    probe = R("mc_lookup_probe")
    second = lambda k: f"{probe[k]['image']['letter | free right']:.2f}"
    ks = ("before: template corpus, fused newlines", "shipped: wider grammar, 6,000 steps", MC_SHIPPED)
    sizes, depth = R("mc_eval_size"), R("mc_depth_probe")["shipped"]["image"]
    wrong, sd = sizes[THREE]["wrong letters in the picture"], sizes[THREE]["90-item slices"]["sd"]
    opts = sizes[THREE]["colour and shape items by options in the picture"]
    of = lambda t: f"{wrong[t][NAMED]} of {wrong[t]['wrong']}"
    lens = [depth[f"letter | answer {w}"]["right"] for w in ("ready a layer before the last", "only in the last layer")]
    return (
        f"{second(ks[0])} before issue 27, {second(ks[1])} after 6,000 steps on the wider grammar, {second(ks[2])} "
        "after the three later phases",
        f"the draw alone moved the figure by ±{sd['all']:.2f} and the image items by ±{sd['image']:.2f}",
        f"of the wrong colour and shape letters {of('color')} and {of('shape')} name",
        f"where only the answer is, they are right {opts['only the answer']['right']:.2f} of the time; where other "
        f"options are too, {opts['the answer and others']['right']:.2f}, a coin toss",
        f"the letter is right for {lens[0]:.2f} of the image items whose free-form answer is readable a layer before "
        f"the last, and {lens[1]:.2f} of the others",
    )


MC_FOURTH = "shipped: four later phases, the fourth drilling lettered items with the scene's values as wrong options"


def _lettered_phase():
    "The LLM's fourth later phase (`bench/llm_fourth_phase.py`, the probes of the LLM alone), in RESULTS.md and 07f."
    d = R("llm_fourth_phase")
    rows = [(d[f"seed {k}"]["three later phases"], d[f"seed {k}"]["four later phases"]) for k in (0, 1)]
    arrow = lambda get, fmt="{:.3f}", bold=False: " / ".join(
        f"{fmt.format(get(a))} -> " + (f"**{fmt.format(get(b))}**" if bold else fmt.format(get(b))) for a, b in rows
    )
    mod = lambda m: lambda r: r["multiple choice by modality"][m]
    held = lambda t: lambda r: r["held-out words by type"][t]
    ways = lambda key, part: lambda r: r["descriptions in held-out ways (120 scenes a set)"][key][part]
    probe, tables = R("mc_lookup_probe"), R("heldout_llm_probe")
    lettered = lambda m: " -> ".join(f"{probe[k][m]['letter']:.2f}" for k in (MC_SHIPPED, MC_FOURTH))
    both = ("held-out table", "second held-out table")
    table = lambda k: " / ".join(f"{tables[k][t]['bare']['overall']:.3f}" for t in both)
    return (
        f"the LLM alone letters {lettered('image')} of the image items (text {lettered('text')}) and reads the "
        f"held-out tables {table(THREE)} -> {table('shipped')}",
        f"multiple choice {arrow(lambda r: r['multiple choice'], bold=True)}, image items {arrow(mod('image'))}, text "
        f"{arrow(mod('text'))}; held-out words {arrow(lambda r: r['held-out words'])} (count {arrow(held('count'))}, "
        f"existence {arrow(held('existence'))}, relative position {arrow(held('relative_position'))}), relative score "
        f"in held-out words {arrow(lambda r: r['relative score, held-out words'], '{:.1f}')}; costs: in-template count "
        f"{arrow(lambda r: r['in-template by type']['count'])}, the second held-out table "
        f"{arrow(lambda r: r['second held-out table'])}",
        f"F1 {arrow(ways('first', 'F1'))} in the first set of ways and {arrow(ways('second', 'F1'))} in the second "
        f"(described {arrow(lambda r: 100 * ways('second', 'described')(r), '{:.0f} %')})",
        f"the LLM alone answers only {probe[MC_FOURTH]['text']['free']:.2f} of those free-form",
    )


def _lesson_fourth():
    "07e's sentences on the fourth later phase: the lookup alone, the quickstart, the items still a coin toss."
    probe, sizes, d = R("mc_lookup_probe"), R("mc_eval_size"), R("llm_fourth_phase")
    split = lambda k: sizes[k]["colour and shape items by options in the picture"]
    others = lambda k: f"{split(k)['the answer and others']['right']:.2f}"
    mc = " / ".join(
        f"{d[f'seed {k}']['three later phases']['multiple choice']:.2f} -> "
        f"{d[f'seed {k}']['four later phases']['multiple choice']:.2f}"
        for k in (0, 1)
    )
    return (
        f"letters {probe[MC_FOURTH]['image']['letter | free right']:.2f} of the image items it answers free-form "
        f"(0.72 before), and the quickstart's multiple choice goes {mc}",
        f"right {others('shipped')} / {others('shipped, seed 1')} of the time (before: {others(THREE)} / "
        f"{others(THREE + ', seed 1')})",
        f"The LLM shipped now letters {probe[MC_FOURTH]['image']['letter | free right']:.2f} of those items",
    )


def _misses_now():
    "RESULTS.md's sentence on the shipped model's worst held-out frames now (`bench/heldout_misses.py`)."
    keys = [
        ("first", "count: Count the {things}."),
        ("first", "existence: Do you spot {thing} anywhere?"),
        ("second", "existence: Do you notice {thing}?"),
        ("second", "relative_position: Would you say {ra} is {r} {rb}?"),
        ("first", "relative_position: Tell me: is {ra} {r} {rb}?"),
    ]
    said = {}
    for name in ("description grammar (shipped at 500da72)", A077):
        t = R("heldout_misses")[name]["tables"]
        said[name] = [f"{t[a][k]['right']} of {t[a][k]['n']}" for a, k in keys]
    before, now = said["description grammar (shipped at 500da72)"], said[A077]
    return (
        f"The model shipped with the description grammar (below): {', '.join(before[:4])} and {before[4]}; "
        '"Count the triangles." got a description ("The image shows a single object: a small red triangle in the '
        'bottom right."). The model shipped now (short answers asked for in the same words, below): '
        f"{', '.join(now[:4])} and {now[4]}."
    )


def _plain_questions():
    "RESULTS.md's sentence on plain questions (`bench/plain_questions.py`)."
    d = R("plain_questions")
    it = lambda name: d[name]["right"]["What color is it?"]
    stray = [it(f"second phase with stray words 0.3, seed {k}") for k in (0, 1)]
    before = it("shipped (phase-1 LLM), seed 0")
    return f'"What color is it?" gets the colour {stray[0]} / {stray[1]} times (seeds 0 / 1) against {before} for'


def _second_phase_alone():
    "07f's sentence on the LLM alone before and after its second phase (`heldout_llm_probe`'s tables)."
    before = R("heldout_llm_probe")["phase-1 LLM (shipped before its second phase)"]
    after = R("llm_second_phase")["no stray words"]["llm alone, perfect scene tokens"]
    tables = ("training frames", "held-out table", "second held-out table")
    a, b = [[x[t]["bare"]["overall"] for t in tables] for x in (before, after)]
    return (
        f"goes from {a[0]:.3f} to {b[0]:.3f} in the training frames, {a[1]:.3f} to {b[1]:.3f} on the held-out table "
        "and "
        f"{a[2]:.3f} to {b[2]:.3f} on the second one"
    )


def _misses():
    "RESULTS.md's sentence on the shipped model's worst held-out frames (`bench/heldout_misses.py`)."
    t = R("heldout_misses")["before the description grammar"]["tables"]
    row = lambda table, key: f"{t[table][key]['right']} of {t[table][key]['n']}"
    words = t["first"]["count: Count the {things}."]["word counts in the corpus"]
    return (
        f'"Count the {{things}}." {row("first", "count: Count the {things}.")} right, answered with the wrong kind of '
        "word "
        f'("yes", "bottom", a colour) although "count" occurs {words["count"]} times'
    )


def _pair(key, seed_eval=lambda e: e, fmt="{:.3f}"):
    "`seed 0 / seed 1` of one figure of the two quickstart summaries."
    return " / ".join(fmt.format(key(seed_eval(qs(s)))) for s in (0, 1))


ABLATION_COLUMNS = {  # RESULTS.md's ablation table: column -> (the figure's keys in a variant's `eval`, its format)
    "VQA": ("vqa_accuracy", ".3f"),
    "held-out words": ("heldout.vqa_accuracy", ".3f"),
    "2+ objects": ("by_objects.2+ objects", ".2f"),
    "count": ("by_type.count", ".2f"),
    "relative position": ("by_type.relative_position", ".2f"),
    "judge detail": ("relative_score.detail", ".1f"),
    "judge complex": ("relative_score.complex", ".1f"),
    "judge overall": ("relative_score.overall", ".1f"),
    "judge, held-out words": ("heldout.relative_score.overall", ".1f"),
    "honest: absent": ("heldout.unanswerable.honest", ".0%"),
    "held-out requests described": ("heldout.describe.described", ".0%"),
    "multiple choice": ("mc_accuracy", ".2f"),
    "description F1": ("description.f1", ".2f"),
}


def ablation_rows() -> list[str]:
    "RESULTS.md's ablation table (header, rule, a row per variant), seeds 0 / 1, from `bench/results/ablations*.json`."
    a, b = R("ablations"), R("ablations_seed1")
    cell = lambda e, keys, fmt: format(reduce(dict.get, keys.split("."), e), fmt)
    rows = ["| variant | " + " | ".join(ABLATION_COLUMNS) + " |", "|---" * (len(ABLATION_COLUMNS) + 1) + "|"]
    for name in a:
        ea, eb = a[name]["eval"], b[name]["eval"]
        cells = [f"{cell(ea, *spec)} / {cell(eb, *spec)}" for spec in ABLATION_COLUMNS.values()]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def test_the_ablation_table_is_the_committed_runs():
    text = text_of("RESULTS.md")
    for row in ablation_rows():
        assert row in text, f"RESULTS.md's ablation table should hold, from bench/results: {row}"


def glance_rows() -> list[str]:
    "The rows of the README's 'Results at a glance', rendered from the committed results."
    pct = lambda x: f"{100 * x:.0f} %"
    d0, d1 = qs(0)["heldout"]["describe"], qs(1)["heldout"]["describe"]
    b0, b1 = qs(0)["heldout"]["second_set"]["describe"], qs(1)["heldout"]["second_set"]["describe"]
    u0, u1 = qs(0)["heldout"]["unanswerable"], qs(1)["heldout"]["unanswerable"]
    th, slow = R("train_throughput")["stages"], R("train_throughput_slow_day")["stages"]
    speed = lambda s: s["ours"]["samples_per_s"] / s["baseline"]["samples_per_s"]
    b16, f32 = R("mfu")["AMD EPYC"]["precisions"]["bf16"], R("mfu")["AMD EPYC"]["precisions"]["fp32"]
    weakest = min(qs(0)["heldout"]["by_type"].items(), key=lambda kv: kv[1])[0]  # the type furthest from its goal
    seed1 = "four later phases, seed 1"  # the shipped recipe's seed 1 (`bench/heldout_misses.py --checkpoint`)
    s0, s1 = (R("heldout_misses")[name]["scores"] for name in ("shipped", seed1))
    later = ", ".join(
        f"{s0[k]['accuracy']:.3f} / {s1[k]['accuracy']:.3f}" for k in ("second", "third", "fourth", "fifth", "sixth")
    )
    return [
        f"| small-world VQA, new scenes asked in the training phrasings | {_pair(lambda e: e['vqa_accuracy'])} | "
        "≥ 0.97 |",
        f"| the same in phrasings no training data uses | {_pair(lambda e: e['heldout']['vqa_accuracy'])} "
        f"(weakest: {weakest.replace('_', ' ')} {_pair(lambda e: e['heldout']['by_type'][weakest], fmt='{:.2f}')}); "
        f"five more tables, written later and never tuned to (seed 0's scenes): {later} | ≥ 0.90, "
        "every type ≥ 0.85 |",
        f"| multiple choice, ScienceQA style | {_pair(lambda e: e['mc_accuracy'], fmt='{:.2f}')} | ≥ 0.90 "
        "(paper 90.92 %) |",
        "| relative score vs the teacher, LLaVA-Bench style | "
        f"{_pair(lambda e: e['relative_score']['overall'], fmt='{:.1f}')} %; asked in held-out words "
        f"{_pair(lambda e: e['heldout']['relative_score']['overall'], fmt='{:.1f}')} % | "
        "paper 85.1 % vs GPT-4; ≥ 90 % in held-out words |",
        "| a detailed description, asked as in training: the objects right (F1) | "
        f"{_pair(lambda e: e['description']['f1'], fmt='{:.2f}')} | "
        "no object missed or named twice |",
        f"| a description asked for in 10 held-out ways | {pct(d0['described'])} / {pct(d1['described'])} described, "
        f"F1 {d0['f1']:.2f} / {d1['f1']:.2f}; in 10 more, never used to tune: {pct(b0['described'])} / "
        f"{pct(b1['described'])}, F1 {b0['f1']:.2f} / {b1['f1']:.2f} | F1 ≥ 0.85 |",
        f"| honest about things not in the picture | {pct(u0['honest'])} / {pct(u1['honest'])} | no invented answers |",
        f"| pictures drawn by another renderer (the wild set) | {_pair(lambda e: e['wild']['accuracy'])} | ≥ 0.90 |",
        f"| `make quickstart` wall time | {mmss(R('quickstart_summary')['wall_seconds'])} (seed 0, a slow day) | "
        "≤ 10 min |",
        f"| training step vs transformers' `LlavaForConditionalGeneration`, bf16, stage 1 / stage 2 | "
        f"{speed(th[0]):.2f}× / {speed(th[1]):.2f}× (on a day of half the bf16 peak {speed(slow[0]):.2f}× / "
        f"{speed(slow[1]):.2f}×) | ≥ 2× |",
        f"| stage 2's share of the CPU's measured matmul peak (MFU), bf16 / fp32 | {pct(b16['stage2']['mfu'])} / "
        f"{pct(f32['stage2']['mfu'])} | ≥ 30 % / ≥ 50 % |",
    ]


CLAIMS = {
    **{
        f"RESULTS: the description grammar, {i}": ("RESULTS.md", lambda i=i: _description_grammar()[i])
        for i in range(3)
    },
    "RESULTS: the shipped model's misses": ("RESULTS.md", _misses_now),
    **{
        f"RESULTS: a phase in the grammars' words, {i}": ("RESULTS.md", lambda i=i: _grammar_phase()[i])
        for i in (0, 1, 2)
    },
    **{f"RESULTS: the fourth table, {i}": ("RESULTS.md", lambda i=i: _fourth_table()[i]) for i in range(6)},
    **{f"RESULTS: the short-answer grammar, {i}": ("RESULTS.md", lambda i=i: _answer_grammar()[i]) for i in range(5)},
    "RESULTS: the grammar without its questions": ("RESULTS.md", _imperatives),
    "RESULTS: one description record a scene": ("RESULTS.md", _one_description_record),
    "RESULTS: short-answer records": ("RESULTS.md", _short_answer_records),
    "RESULTS: the description grammar's size": ("RESULTS.md", _grammar_size),
    "07a: description requests before the grammar": ("nbs/07a_smallworld_symbolic.ipynb", _description_requests_before),
    "RESULTS: a fourth LLM phase in reading order": ("RESULTS.md", _fourth_phase),
    **{f"RESULTS: a phase towards multiple choice, {i}": ("RESULTS.md", lambda i=i: _mc_phase()[i]) for i in range(2)},
    "RESULTS: a longer phase towards multiple choice": ("RESULTS.md", lambda: _mc_phase(longer=True)[2]),
    **{f"07e: the lookup since, {i}": ("nbs/07e_smallworld_llm.ipynb", lambda i=i: _mc_lesson()[i]) for i in range(5)},
    **{
        f"07e: the fourth phase, {i}": ("nbs/07e_smallworld_llm.ipynb", lambda i=i: _lesson_fourth()[i])
        for i in range(3)
    },
    **{f"RESULTS: levers on multiple choice, {i}": ("RESULTS.md", lambda i=i: _mc_levers()[i]) for i in range(12)},
    **{f"RESULTS: the fourth LLM phase, {i}": ("RESULTS.md", lambda i=i: _lettered_phase()[i]) for i in range(4)},
    **{
        f"07f: the fourth LLM phase, {i}": ("nbs/07f_smallworld_backbones.ipynb", lambda i=i: _lettered_phase()[i])
        for i in range(2)
    },
    **{f"RESULTS: a lone object called it, {i}": ("RESULTS.md", lambda i=i: _lone()[i]) for i in range(4)},
    **{f"RESULTS: the adopted LLM phase, {i}": ("RESULTS.md", lambda i=i: _adopted_phase()[i]) for i in range(3)},
    "RESULTS: held-out VQA, both seeds": ("RESULTS.md", _vqa),
    "RESULTS: VQA by type": ("RESULTS.md", _vqa_types),
    "RESULTS: held-out phrasings": ("RESULTS.md", _heldout),
    "RESULTS: the wild test set": ("RESULTS.md", _wild),
    "RESULTS: relative score": ("RESULTS.md", _relative),
    "RESULTS: relative score in held-out words": ("RESULTS.md", _relative_heldout),
    "RESULTS: multiple choice": ("RESULTS.md", _mc),
    "RESULTS: quickstart wall time": ("RESULTS.md", _quickstart_wall),
    "RESULTS: masking throughput, vicuna_v1": ("RESULTS.md", lambda: _masking(0)),
    "RESULTS: masking throughput, chatml": ("RESULTS.md", lambda: _masking(1)),
    "RESULTS: chat latency": ("RESULTS.md", _chat),
    "RESULTS: datagen throughput": ("RESULTS.md", _datagen),
    "RESULTS: the shared prefix": ("RESULTS.md", _share_prefix),
    "RESULTS: training step, stage 1": ("RESULTS.md", lambda: _throughput(1)),
    "RESULTS: training step, stage 2": ("RESULTS.md", lambda: _throughput(2)),
    "RESULTS: MFU": ("RESULTS.md", _mfu),
    "RESULTS: the training step on a slow day": ("RESULTS.md", _slow_day),
    "RESULTS: the picking plateau": ("RESULTS.md", lambda: _plateau("readme")),
    "RESULTS: picking by place, the format-2 LLM": ("RESULTS.md", lambda: _offset("picking_offset_probe_format2")),
    "RESULTS: picking by place, the shipped LLM": ("RESULTS.md", lambda: _offset("picking_offset_probe")),
    "README: the first screen": ("README.md", _first_screen),
    "README: the first screen's accuracy": ("README.md", _first_screen_accuracy),
    **{f"README: at a glance, row {i}": ("README.md", lambda i=i: glance_rows()[i]) for i in range(11)},
    "workshop: the quickstart on the clock": ("nbs/tutorials/workshop.ipynb", _workshop_quickstart),
    **{f"RESULTS: held-out table, {q}": ("RESULTS.md", lambda q=q: _heldout_row(q)) for q in QTYPES + ("all",)},
    "RESULTS: stage 1 alone": ("RESULTS.md", _stage1_transfer),
    "RESULTS: robust vision, the varied tower": ("RESULTS.md", _robust),
    "RESULTS: probes of the wild pictures": ("RESULTS.md", _wild_probes),
    "RESULTS: the position init of a supervised 8 px tower": ("RESULTS.md", _position_std),
    "RESULTS: the position init of a contrastive 8 px tower": ("RESULTS.md", _contrastive_shapes),
    **{
        f"07i: before and after, {i}": ("nbs/07i_smallworld_wild.ipynb", lambda i=i: _wild_lesson()[i])
        for i in range(5)
    },
    "RESULTS: the LLM's second phase": ("RESULTS.md", _second_phase),
    "RESULTS: the LLM's second phase, with stray words": ("RESULTS.md", _stray_words),
    "RESULTS: stray request words": ("RESULTS.md", lambda: _stray_words("stray words 0.3, from the requests' words")),
    "RESULTS: plain questions": ("RESULTS.md", _plain_questions),
    "RESULTS: the worst held-out frames": ("RESULTS.md", _misses),
    "RESULTS: descriptions in reading order": ("RESULTS.md", _description_order),
    "07a: descriptions in reading order": ("nbs/07a_smallworld_symbolic.ipynb", _description_order_lesson),
    "07f: the LLM's second phase, alone": ("nbs/07f_smallworld_backbones.ipynb", _second_phase_alone),
    "07e: the picking plateau": ("nbs/07e_smallworld_llm.ipynb", lambda: _plateau("lesson")),
    "07e: the heads that fetch a colour": ("nbs/07e_smallworld_llm.ipynb", _fetch_heads),
    "07e: how many causes": ("nbs/07e_smallworld_llm.ipynb", _causes),
    "03: bf16 emulated on the AVX2 AMD": ("nbs/03_train_loop.ipynb", _amd_bf16),
    "laptop: the quickstart's wall time": ("nbs/tutorials/laptop.ipynb", _laptop_wall),
    "laptop: how many fixes": ("nbs/tutorials/laptop.ipynb", _fixes),
}


ANYRES = [("high", "pad"), ("high", "anyres"), ("base", "pad"), ("base", "anyres")]


@pytest.mark.parametrize("world,mode", ANYRES)
def test_the_anyres_table_is_the_committed_run(world, mode):
    row = _anyres_row(world, mode)
    assert row in _anyres_text(text_of("README.md")), f"README.md's anyres table should hold {world} / {mode}: {row}"


@pytest.mark.parametrize("name", CLAIMS)
def test_a_quoted_figure_is_the_committed_result(name):
    where, render = CLAIMS[name]
    sentence = render()
    flat = lambda text: " ".join(text.split())  # where a line wraps does not matter
    assert flat(sentence) in flat(text_of(where)), f"{where} should say, from bench/results: {sentence!r}"
