"""Public functions and classes of llava_nb that take more than five parameters a caller may pass by position.

Usage: python tools/kwonly.py   (prints one line per offender; a test keeps the list empty)
"""

import ast
import sys
from pathlib import Path

MAX_POSITIONAL = 5


def offenders(root: Path) -> list[str]:
    "`module.name (n positional)` for each public def (or dataclass) whose positional parameters exceed the limit."
    out = []
    for f in sorted(root.rglob("*.py")):
        if f.name == "_modidx.py":
            continue
        mod = ".".join(f.relative_to(root).with_suffix("").parts)
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                a = node.args
                pos = [p.arg for p in a.posonlyargs + a.args if p.arg not in ("self", "cls")]
                if len(pos) > MAX_POSITIONAL:
                    out.append(f"{mod}.{node.name} ({len(pos)} positional)")
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                dc = next((d for d in node.decorator_list if "dataclass" in ast.unparse(d)), None)
                if dc is not None and "kw_only=True" not in ast.unparse(dc):
                    fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
                    marks = [i for i, s in enumerate(fields) if "KW_ONLY" in ast.unparse(s.annotation)]
                    fields = fields[: marks[0]] if marks else fields  # after `_: KW_ONLY`, fields are passed by name
                    if len(fields) > MAX_POSITIONAL:
                        out.append(f"{mod}.{node.name} (dataclass, {len(fields)} fields)")
    return out


if __name__ == "__main__":
    found = offenders(Path(__file__).resolve().parents[1] / "llava_nb")
    print("\n".join(found) or "none")
    sys.exit(1 if found else 0)
