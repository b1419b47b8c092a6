"""The import graph of hpo and objectives: no circles (lazy imports included), and the core never
imports a task; the CLI stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hpo", "objectives")
# The core: what tasks build on. It never imports objectives (nor anything that does).
CORE = (
    "hpo.attrs",
    "hpo.config",
    "hpo.cost",
    "hpo.data",
    "hpo.errors",
    "hpo.item_scores",
    "hpo.progress",
    "hpo.pruners",
    "hpo.schema",
    "hpo.significance",
    "hpo.space",
    "hpo.storage",
    "hpo.retrying_storage",
    "hpo.testing",
    "hpo.training",
    "hpo.trial_kinds",
    "hpo.trial_queue",
    "hpo.verdicts",
    "hpo.weighted_metrics",
    "hpo.yaml_file",
)
TASK_MODULES = ("objectives.retrieval", "objectives.pair_classification", "objectives.similarity")


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (module level, functions, TYPE_CHECKING)."""
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for target in graph[node] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_never_imports_a_task() -> None:
    graph = import_graph()
    for module in graph:
        if any(module == core or module.startswith(core + ".") for core in CORE):
            tasks = {m for m in reachable(graph, module) if m.startswith((*TASK_MODULES, "objectives.registry"))}
            assert not tasks, f"{module} reaches {sorted(tasks)}"


def test_only_the_registry_names_task_modules() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if module != "objectives.registry":
            assert not {t for t in targets if t.startswith(TASK_MODULES)}, module


def test_help_imports_neither_torch_nor_the_tasks() -> None:
    code = (
        "import sys, hpo.cli; hpo.cli.cli.main(['--help'], standalone_mode=False); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', 'objectives')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip().endswith("[]")
