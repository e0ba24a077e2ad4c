"""A layered layout of a DAG's tasks for the graph view, computed on the server.

Longest-path layering (a task sits one column right of its furthest upstream task),
then a few barycenter sweeps to order each column so that edges cross less. The
result is plain coordinates; the template draws them as SVG. It stays readable for
hundreds of tasks because every node keeps a fixed size and the page scrolls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

NODE_WIDTH = 190
NODE_HEIGHT = 30
GAP_X = 60
GAP_Y = 10
MARGIN = 16
SWEEPS = 4


@attrs.frozen
class Node:
    task_id: str
    operator: str
    layer: int
    x: float
    y: float


@attrs.frozen
class Edge:
    source: str
    target: str
    path: str  # SVG path data


@attrs.frozen
class Layout:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: float
    height: float
    node_width: float = NODE_WIDTH
    node_height: float = NODE_HEIGHT


def _layers(order: Sequence[str], upstream: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest path from a root, for tasks given in topological order."""
    layer: dict[str, int] = {}
    for task in order:
        ups = [layer[u] for u in upstream.get(task, ()) if u in layer]
        layer[task] = max(ups) + 1 if ups else 0
    return layer


def _barycenter(
    column: list[str], neighbours: Mapping[str, Sequence[str]], position: Mapping[str, int]
) -> list[str]:
    def key(item: tuple[int, str]) -> float:
        index, task = item
        placed = [position[n] for n in neighbours.get(task, ()) if n in position]
        return sum(placed) / len(placed) if placed else float(index)

    return [task for _, task in sorted(enumerate(column), key=key)]


def layered_layout(
    order: Sequence[str],
    upstream: Mapping[str, Sequence[str]],
    operators: Mapping[str, str] | None = None,
) -> Layout:
    """Coordinates for ``order`` (task ids, topologically sorted) drawn left to right."""
    layer = _layers(order, upstream)
    downstream: dict[str, list[str]] = {task: [] for task in order}
    for task in order:
        for up in upstream.get(task, ()):
            if up in downstream:
                downstream[up].append(task)
    depth = max(layer.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(depth)]
    for task in order:
        columns[layer[task]].append(task)
    position = {task: i for column in columns for i, task in enumerate(column)}
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        indexes = range(1, depth) if forward else range(depth - 2, -1, -1)
        for i in indexes:
            columns[i] = _barycenter(columns[i], upstream if forward else downstream, position)
            position.update({task: j for j, task in enumerate(columns[i])})
    tallest = max((len(c) for c in columns), default=0)
    step_y = NODE_HEIGHT + GAP_Y
    nodes: dict[str, Node] = {}
    for index, column in enumerate(columns):
        offset = (tallest - len(column)) * step_y / 2
        for row, task in enumerate(column):
            nodes[task] = Node(
                task_id=task,
                operator=(operators or {}).get(task, ""),
                layer=index,
                x=MARGIN + index * (NODE_WIDTH + GAP_X),
                y=MARGIN + offset + row * step_y,
            )
    edges = []
    for task in order:
        for up in upstream.get(task, ()):
            if up not in nodes:
                continue
            a, b = nodes[up], nodes[task]
            x1, y1 = a.x + NODE_WIDTH, a.y + NODE_HEIGHT / 2
            x2, y2 = b.x, b.y + NODE_HEIGHT / 2
            mid = (x1 + x2) / 2
            path = f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            edges.append(Edge(source=up, target=task, path=path))
    return Layout(
        nodes=tuple(nodes[t] for t in order),
        edges=tuple(edges),
        width=2 * MARGIN + max(depth, 1) * (NODE_WIDTH + GAP_X) - GAP_X,
        height=2 * MARGIN + max(tallest, 1) * step_y - GAP_Y,
    )
