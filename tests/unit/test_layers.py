"""The import rule of docs/architecture.md, read from the source with `ast`.

Layers, bottom up (a package may import only packages on lower layers; packages on one layer are
independent of each other):

    tnas (errors, registry, paths, seeds) -> ops, data -> space -> supernet, sampler -> strategy
    -> evaluate, bench -> run, harness -> train -> export -> cli -> `python -m tnas`; the package
    face `tnas` (spaces, families, `__version__` from `tnas.version`, and `load_network` from
    `tnas.export` on first use) sits on top

Imports inside functions count (a lazy import is still a dependency). Besides the layer rule, no
two modules may import each other in a loop.
"""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

LAYERS = {"tnas": 0, "ops": 1, "data": 1, "space": 2, "supernet": 3, "sampler": 3, "strategy": 4,
          "evaluate": 5, "bench": 5, "run": 6, "harness": 6, "train": 7, "export": 7.5, "cli": 8, "__main__": 9,
          "__init__": 10}  # the face re-exports spaces, families, `__version__` and (lazily) `load_network`


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the tnas package under `src`."""
    out = {}
    for path in sorted((src / "tnas").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the tnas modules it imports (anywhere in the file)."""
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "tnas")
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tnas":
                for a in node.names:  # `from tnas.pkg import module` imports the module itself
                    sub = f"{node.module}.{a.name}"
                    found.add(sub if sub in mods else node.module)
        graph[name] = {m for m in found if m in mods and m != name}
    return graph


def package(module: str) -> str:
    """'tnas.supernet.nb201' -> 'supernet'; root modules ('tnas.errors') -> 'tnas'; the face -> '__init__'."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    if len(parts) == 2 and (SRC / "tnas" / f"{parts[1]}.py").exists():  # a module, not a package
        return "__main__" if parts[1] == "__main__" else "tnas"
    return parts[1]


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Imports that break the layer rule: 'a -> b (layer x -> layer y)'."""
    bad = []
    for a, targets in graph.items():
        pa = package(a)
        for b in sorted(targets):
            pb = package(b)
            if pa == pb:
                continue
            if LAYERS[pb] >= LAYERS[pa]:
                bad.append(f"{a} -> {b} ({pa} -> {pb})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of modules (size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_package_has_a_layer() -> None:
    assert {package(m) for m in modules()} <= set(LAYERS)


def test_no_import_runs_up_a_layer() -> None:
    assert upward(imports(modules())) == []


def test_no_import_cycles() -> None:
    assert cycles(imports(modules())) == []
