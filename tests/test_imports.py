"""The import graph of hpo and objectives: no circles (lazy imports included), the wings in order
(the core never imports a task), every task known to the registry; the CLI stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hpo", "objectives")
# The wings, bottom to top. A module imports its own wing and the wings below it, never one above
# (lazy and TYPE_CHECKING imports included). The tasks sit between the core they build on and the
# service that runs them: the core never reaches a task.
WINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("floor", ("hpo", "hpo.errors", "hpo.attrs", "hpo.markdown", "hpo.progress", "hpo.log_setup")),
    ("settings", ("hpo.settings",)),
    ("data", ("hpo.data",)),
    ("stats", ("hpo.stats",)),
    ("training", ("hpo.training",)),
    ("tasks", ("objectives",)),
    ("store", ("hpo.store",)),
    ("verdicts", ("hpo.verdicts",)),
    ("results", ("hpo.results",)),
    ("workers", ("hpo.workers",)),
    ("views", ("hpo.views",)),
    ("cloud", ("hpo.cloud",)),
    ("tune", ("hpo.tune",)),
    ("cli", ("hpo.cli", "hpo.__main__")),
)
CORE_WINGS = ("floor", "settings", "data", "stats", "training")


def wing_of(module: str) -> str:
    """The wing a module belongs to: the wing with the longest matching package or module name."""
    best, length = "", -1
    for wing, roots in WINGS:
        for root in roots:
            matches = module == root or (module.startswith(root + ".") and root != "hpo")
            if matches and len(root) > length:
                best, length = wing, len(root)
    return best


def task_modules() -> set[str]:
    """The task modules, as the registry knows them (a new task cannot escape the rules below)."""
    from objectives.registry import TASKS

    return {type(task).__module__ for task in TASKS.values()}


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


def test_every_module_has_a_wing() -> None:
    assert [m for m in sorted(import_graph()) if not wing_of(m)] == []


def test_no_import_runs_back_up_the_wings() -> None:
    order = [wing for wing, _ in WINGS]
    upward = [
        f"{module} ({wing_of(module)}) -> {target} ({wing_of(target)})"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if order.index(wing_of(target)) > order.index(wing_of(module))
    ]
    assert upward == []


def test_the_wing_rule_catches_an_import_from_above() -> None:
    assert wing_of("hpo.settings.config") == "settings"
    assert wing_of("hpo.errors") == "floor"
    assert wing_of("hpo.cli.study_commands") == "cli"
    assert wing_of("objectives.retrieval") == "tasks"
    assert wing_of("hpo.nowhere") == ""


def test_the_core_never_imports_a_task() -> None:
    graph = import_graph()
    tasks = task_modules() | {"objectives.registry"}
    for module in graph:
        if wing_of(module) in CORE_WINGS:
            assert not reachable(graph, module) & tasks, module


def test_the_registry_knows_every_task_module() -> None:
    """Every module of objectives/ is a task the registry lists, or a helper one task owns: named
    ``<task>_<part>``, imported only by that task and its other helpers, and reached from the task."""
    graph = import_graph()
    tasks = task_modules()
    assert tasks <= set(graph)
    for module in sorted(m for m in graph if m.startswith("objectives.")):
        if module in tasks or module == "objectives.registry":
            continue
        owners = [task for task in tasks if module.startswith(task + "_")]
        assert owners, f"{module} is neither a task the registry lists nor a task's helper"
        owner = max(owners, key=len)
        family = {m for m in graph if m == owner or m.startswith(owner + "_")}
        importers = {m for m, targets in graph.items() if module in targets}
        assert importers and importers <= family, f"{module} is imported by {sorted(importers - family) or 'no module'}"
        assert module in reachable(graph, owner), f"{owner} never imports its helper {module}"


def test_only_the_registry_names_task_modules() -> None:
    graph = import_graph()
    tasks = task_modules()
    for module, targets in graph.items():
        if module != "objectives.registry":
            assert not targets & tasks, module


def test_help_imports_neither_torch_nor_the_tasks() -> None:
    code = (
        "import sys, hpo.cli; hpo.cli.cli.main(['--help'], standalone_mode=False); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', 'objectives')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip().endswith("[]")
