"""The training layer (lessons 03_train_loop to 03i_train_mfu), and `train` itself.

`from llava_nb.train import train, TrainConfig` gives the loop's function and the config; `from llava_nb import train`
gives this package, which can be called like the function: `train(cfg)` runs `train.loop.train(cfg)`. The names are
looked up on first use, so importing one module of the layer (`llava_nb.train.config`) does not import the loop."""

import sys
import types
from importlib import import_module

_EXPORTS = {"train": "loop", "TrainResult": "loop", "TrainConfig": "config"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llava_nb.train' has no attribute {name!r}")
    return getattr(import_module(f"llava_nb.train.{_EXPORTS[name]}"), name)


class _CallableLayer(types.ModuleType):
    "A module that runs `train.loop.train` when called (Python lets a module take a ModuleType subclass)."

    def __call__(self, cfg, *args, **kwargs):
        return self.train(cfg, *args, **kwargs)


sys.modules[__name__].__class__ = _CallableLayer
