"""The package's layers point one way: read the import graph of xsd/ (every import, at module level
or inside a function) and fail on a cycle, on an arrow from a lower layer to a higher one, on the
decoder reaching into the build, and on a notebook importing more than the studies' public face."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xsd"

# lowest first; a module may import its own layer and the ones below, never one above
LAYERS = [
    ("ground", r"xsd|xsd\.(paths|cache|config|locations|device|arguments|names|seeds|store|metrics|costmodel"
               r"|adapters|readings|plotting|processes|fit)|xsd\.models\.config|xsd\.world\.config"),
    ("world", r"xsd\.world(\..+)?"),
    ("models", r"xsd\.models(\..+)?"),
    ("parts", r"xsd\.(extract|train_adapters)|xsd\.decode(\..+)?"),
    ("pipeline", r"xsd\.pipeline"),
    ("studies", r"xsd\.studies(\..+)?"),
    ("book and commands", r"xsd\.(runner|book|cli|__main__)|xsd\.commands(\..+)?"),
]
# the decoder takes loaded objects: it never builds, extracts or reads the world
DECODE_MAY_NOT_IMPORT = r"xsd\.(world|extract|pipeline|store|studies|models\.mini_training)(\..+)?"
NOTEBOOKS_MAY_IMPORT = r"xsd\.(studies(\..+)?|plotting|readings|seeds|config)"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports (`from a import b` counts b when b is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
                break
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(files)) for name, path in files.items()}


def layer_of(module: str) -> int:
    for index, (_, pattern) in enumerate(LAYERS):
        if re.fullmatch(pattern, module):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read():
    graph = import_graph()
    assert "xsd.decode.loop" in graph["xsd.decode.methods"]  # module level
    assert "xsd.pipeline" in graph["xsd.studies.live_wallclock"]  # inside a function
    assert len(graph) > 60


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_arrow_points_down():
    upward = [f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
              for module, targets in sorted(import_graph().items()) for target in sorted(targets)
              if layer_of(target) > layer_of(module)]
    assert upward == []


def test_the_decoder_takes_loaded_objects():
    graph = import_graph()
    reaching = {module: sorted(t for t in targets if re.fullmatch(DECODE_MAY_NOT_IMPORT, t))
                for module, targets in graph.items() if module.startswith("xsd.decode")}
    assert {m: t for m, t in reaching.items() if t} == {}


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.py")), ids=lambda p: p.stem)
def test_notebooks_import_the_studies_public_face(notebook):
    names = set()
    for node in ast.walk(ast.parse(notebook.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xsd"):
            names |= {node.module} if node.module != "xsd" else {f"xsd.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("xsd")}
    assert names, "the notebook imports nothing from xsd"
    assert sorted(n for n in names if not re.fullmatch(NOTEBOOKS_MAY_IMPORT, n)) == []
    private = re.findall(r"\b(?:studies\.\w+|\w+)\._\w+\(", notebook.read_text())
    assert private == []


def test_every_package_folder_is_a_package():
    """A folder without __init__.py is left out of a wheel built by `packages.find`."""
    folders = {p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file()) == []


def test_every_module_says_what_it_is_for():
    import ast

    bare = [str(p.relative_to(ROOT)) for p in sorted(PACKAGE.rglob("*.py")) if not ast.get_docstring(ast.parse(p.read_text()))]
    assert bare == []
