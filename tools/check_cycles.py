"""Fail on any import cycle between modules of a package (default: archspec), naming each one.

Every import counts: at module level, inside functions (lazy imports) and under `if TYPE_CHECKING:` (a cycle
that only the type checker sees still ties the two modules into one idea). The graph comes from grimp, the
library under import-linter, which `make lint` runs anyway; import-linter's own contracts check layers, not
cycles inside one layer, so this script covers that.

    .venv/bin/python tools/check_cycles.py            # exit 1 and one line per cycle if there is any
    .venv/bin/python tools/check_cycles.py otherpkg
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping

import grimp


def components(graph: Mapping[str, set[str]]) -> Iterator[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    yield sorted(members)


def shortest_cycle(graph: Mapping[str, set[str]], members: list[str]) -> list[str]:
    """One shortest cycle through the first module of a component, staying inside it (breadth first)."""
    inside = set(members)
    start = members[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & inside):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError("a strongly connected component has a cycle through each of its modules")


def main(package: str = "archspec") -> int:
    imports = grimp.build_graph(package)
    graph = {module: imports.find_modules_directly_imported_by(module) for module in imports.modules}
    cycles = [shortest_cycle(graph, members) for members in components(graph)]
    for cycle in cycles:
        print(f"import cycle: {' -> '.join(cycle)}")
    if cycles:
        print(f"{len(cycles)} import cycle(s) in {package}: move what both modules need into a third one")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
