"""llava_nb: LLaVA rebuilt as notebooks you can learn from and a package you can train with.

The package has one subpackage per layer, each building only on the ones above it in this list:

    core, tiny   shared helpers; tiny models built from configs (for tests and lessons)
    data         records, chat templates, tokenizing and masking, anyres, data inspection
    model        projector, config and checkpoint format, backbones, processor, LlavaModel, generation, hf, LoRA
    train        config, batching, feature cache, one step, a run on disk, the loop, checkpoints, CLI
    eval         metrics, judges, benchmarks (LLaVA-Bench, ScienceQA), `llava-nb eval`
    chat         chat session, notebook widget, drawing pad, terminal chat, OpenAI-compatible server
    datagen      instruction data from captions and boxes: prompts, LLM teachers, COCO
    smallworld   the small world: scenes, symbolic teacher, nano backbones, its evaluation, quickstart
    cli          the `llava-nb` command

`from llava_nb import X` gives the names below; each is imported on first use (so `import llava_nb` stays cheap and
the optional notebook packages are needed only by the widgets). `train` itself is the training layer: write
`from llava_nb.train import train, TrainConfig`.
"""

from importlib import import_module

__version__ = "0.1.0"

# name -> module that defines it: the names users start from
_EXPORTS = {
    "load_records": "data.records",
    "load_image": "data.records",
    "get_template": "data.templates",
    "tokenize_conversation": "data.masking",
    "LlavaConfig": "model.config",
    "LlavaProcessor": "model.processor",
    "LlavaDataset": "model.processor",
    "LlavaModel": "model.llava",
    "TrainConfig": "train.config",
    "get_preset": "train.config",
    "TrainResult": "train.loop",
    "ChatSession": "chat.session",
    "make_scene": "smallworld.world",
    "render_scene": "smallworld.world",
    "make_world": "smallworld.world",
    "nano_backbones": "smallworld.backbones",
    "evaluate": "smallworld.evaluate",
    "quickstart": "smallworld.quickstart",
    "QuickstartConfig": "smallworld.quickstart",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llava_nb' has no attribute {name!r}")
    value = getattr(import_module(f"llava_nb.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
