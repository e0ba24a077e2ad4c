"""The UI's pure parts: the graph layout, the safe Markdown subset, and reading a log
from an offset."""

from __future__ import annotations

from pathlib import Path

from slipstream.api.ui.graph import NODE_HEIGHT, NODE_WIDTH, layered_layout
from slipstream.api.ui.markdown import render_markdown
from slipstream.execution.logs import read_log_chunk


def test_longest_path_layers_and_no_overlap() -> None:
    order = ["a", "b", "c", "d", "e"]
    upstream = {"b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["a", "d"]}
    layout = layered_layout(order, upstream)
    layer = {n.task_id: n.layer for n in layout.nodes}
    assert layer == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3}  # e after its furthest upstream
    assert len(layout.edges) == 6
    boxes = [(n.x, n.y) for n in layout.nodes]
    for i, (x1, y1) in enumerate(boxes):
        assert x1 >= 0 and x1 + NODE_WIDTH <= layout.width
        assert y1 >= 0 and y1 + NODE_HEIGHT <= layout.height
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x1 - x2) >= NODE_WIDTH or abs(y1 - y2) >= NODE_HEIGHT


def test_two_hundred_tasks_in_ten_layers() -> None:
    order = [f"l{j}_t{i}" for j in range(10) for i in range(20)]
    upstream = {
        f"l{j}_t{i}": [f"l{j - 1}_t{(i * 3) % 20}"] for j in range(1, 10) for i in range(20)
    }
    layout = layered_layout(order, upstream)
    assert len({n.x for n in layout.nodes}) == 10
    assert len({n.y for n in layout.nodes}) == 20
    assert layout.width < 3000 and layout.height < 1000  # scrolls, never squeezes nodes


def test_empty_dag_layout() -> None:
    layout = layered_layout([], {})
    assert layout.nodes == () and layout.width > 0


def test_markdown_escapes_everything_first() -> None:
    html = str(
        render_markdown(
            "# Head <b>x</b>\n\n- one\n- `<i>two</i>`\n\n```\n<script>\n```\n"
            "[ok](https://example.org) [bad](javascript:alert(1)) [rel](/dags) "
            '[quote](https://x.org/"onmouseover=alert(1))'
        )
    )
    assert "<h1>Head &lt;b&gt;x&lt;/b&gt;</h1>" in html
    assert "<li>one</li>" in html and "<code>&lt;i&gt;two&lt;/i&gt;</code>" in html
    assert "<pre><code>&lt;script&gt;</code></pre>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">ok</a>' in html
    assert 'href="javascript' not in html and "[bad](javascript:alert(1))" in html
    assert '<a href="/dags"' in html
    assert '"onmouseover' not in html
    assert str(render_markdown(None)) == ""


def test_log_chunks_do_not_split_characters(tmp_path: Path) -> None:
    log = tmp_path / "attempt=1.log"
    log.write_text("héllo wörld\n", encoding="utf-8")
    text, offset = read_log_chunk(log, 0, limit=2)  # "h" and half of "é"
    assert (text, offset) == ("h", 1)
    rest, end = read_log_chunk(log, offset)
    assert text + rest == "héllo wörld\n" and end == log.stat().st_size
    assert read_log_chunk(log, end) == ("", end)
    assert read_log_chunk(tmp_path / "missing.log", 7) == ("", 7)
