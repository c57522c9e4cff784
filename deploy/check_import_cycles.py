"""Fail when any module of the project imports itself through others (an import cycle).

``python deploy/check_import_cycles.py [PACKAGE ...]``, run from the folder that holds the
packages, builds the import graph of the packages (by default every package of the project)
with grimp, the library import-linter is built on,
and reports each cycle with the lines that make it. Imports inside functions and under
``TYPE_CHECKING`` count too: a lazy import hides a cycle, it does not remove it. Exit status 1
when there is a cycle, 0 otherwise. ``make check`` runs it.

import-linter's own contracts say which packages may import which; none says "no cycles
anywhere", so this is its own check.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp

PROJECT_PACKAGES = ("coordinator", "worker", "formfill", "shared", "mikomi", "fixtures")


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The groups of two or more modules that import each other, directly or not (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        # An explicit stack instead of recursion: (module, its successors not yet visited).
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[module] = min(low[module], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == module:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return sorted(groups)


def _cycle_through(graph: grimp.ImportGraph, group: list[str]) -> list[str]:
    """One cycle of the group, from its first module back to it: the shortest way round."""
    first = group[0]
    members = set(group)
    for successor in sorted(graph.find_modules_directly_imported_by(first) & members):
        chain = graph.find_shortest_chain(importer=successor, imported=first)
        if chain is not None:
            return [first, *chain]
    return [*group, first]  # not reached: every member of a group is on a cycle


def _line(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    if not details:
        return f"{importer} -> {imported}"
    first = details[0]
    return f"{importer} -> {imported}  (line {first['line_number']}: {first['line_contents']})"


def main(argv: list[str]) -> int:
    packages = argv or list(PROJECT_PACKAGES)
    sys.path.insert(0, str(Path.cwd()))  # the packages of this folder, not installed copies
    graph = grimp.build_graph(*packages, include_external_packages=False)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    groups = strongly_connected(edges)
    if not groups:
        print(f"no import cycles in {', '.join(packages)} ({len(edges)} modules)")
        return 0
    for group in groups:
        cycle = _cycle_through(graph, group)
        print(f"import cycle among {len(group)} modules: {' -> '.join(cycle)}")
        for importer, imported in zip(cycle, cycle[1:], strict=False):
            print(f"  {_line(graph, importer, imported)}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
