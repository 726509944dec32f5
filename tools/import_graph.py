"""The package's import graph, read from the source (nothing is imported): modules, lines, floors and circles.

    .venv/bin/python tools/import_graph.py [llava_nb] [--floors]

A *layer* is a subpackage (`LAYERS`, lowest first); an *upward import* goes from a layer to a later one. A *floor*
is a module's height in the graph of its top-level imports (0: imports no other module of the package). A
*circle* is a set of modules that reach each other, counting imports inside functions too (they run later, but a
reader still has to hold both modules in mind). Used for issue 29's before/after figures.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def _target(full: str, modules: dict) -> str | None:
    "The module a dotted import names (`llava_nb.a.b` -> `a.b`, or its longest prefix that is a module)."
    parts = full.split(".")[1:]
    while parts and ".".join(parts) not in modules:
        parts = parts[:-1]
    return ".".join(parts) or None


def imports(root: Path) -> tuple[dict, dict, dict]:
    "({module: path}, {module: top-level imports}, {module: imports inside functions or blocks})."
    modules = {".".join(p.relative_to(root).with_suffix("").parts): p for p in sorted(root.rglob("[a-z]*.py"))}
    top, inner = {}, {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top[name], inner[name] = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = name.split(".")[: -node.level] if node.level else []
                full = ("llava_nb." + ".".join(base + [node.module or ""])).rstrip(".") if node.level else node.module
                if not full or not full.startswith("llava_nb"):
                    continue
                found = {_target(f"{full}.{a.name}", modules) for a in node.names}
            elif isinstance(node, ast.Import):
                found = {_target(a.name, modules) for a in node.names if a.name.startswith("llava_nb.")}
            else:
                continue
            found -= {None, name}
            (top if node in tree.body else inner)[name].update(found)
        inner[name] -= top[name]
    return modules, top, inner


def circles(graph: dict) -> list[list[str]]:
    "Strongly connected sets of more than one module (Tarjan)."
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def floors(top: dict) -> dict:
    "Each module's floor over top-level imports (a circle among them is cut where it is met)."
    floor: dict = {}

    def of(v, seen=()):
        if v not in floor:
            floor[v] = 0 if v in seen else 1 + max((of(w, (*seen, v)) for w in top[v] if w not in seen), default=-1)
        return floor[v]

    for v in top:
        of(v)
    return floor


# The package's layers, lowest first: a module may import from its own layer and the ones before it, never after.
LAYERS = ("core", "data", "model", "train", "datagen", "eval", "chat", "smallworld", "cli")
LAYER_OF = {"tiny": "core", "files": "core"}  # top-level modules that belong to a layer named otherwise


def layer(module: str) -> int:
    "A module's layer, as an index into `LAYERS` (`model.llava` -> 2, `tiny` -> 0)."
    head = module.split(".")[0]
    return LAYERS.index(LAYER_OF.get(head, head))


def upward(modules: dict, top: dict, inner: dict) -> list[str]:
    "Imports from a lower layer to a higher one (inside functions too), as 'a -> b' lines."
    return [f"{m} -> {w}" for m in sorted(modules) for w in sorted(top[m] | inner[m]) if layer(w) > layer(m)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1] / "llava_nb"))
    ap.add_argument("--floors", action="store_true", help="list the modules on each floor")
    a = ap.parse_args(argv)
    modules, top, inner = imports(Path(a.root))
    lines = {m: len(p.read_text().splitlines()) for m, p in modules.items()}
    fl = floors(top)
    report = {
        "modules": len(modules),
        "lines": sum(lines.values()),
        "floors": max(fl.values()) + 1,
        "circles": circles({m: top[m] | inner[m] for m in modules}),
        "upward imports": upward(modules, top, inner),
        "over 400 lines": {m: n for m, n in sorted(lines.items(), key=lambda kv: -kv[1]) if n > 400},
    }
    for k, v in report.items():
        print(f"{k}: {v}")
    if a.floors:
        for f in range(report["floors"]):
            print(f, sorted(m for m in fl if fl[m] == f))
    return report


if __name__ == "__main__":
    main()
