"""The answer of a list endpoint: one page of rows, the total that match, the paging and the next cursor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from ..paging import page_cursor
from .validation import parse_paging


def page_answer(
    name: str, default_limit: int, fetch: Callable, serialize: Callable[[list], list], at: str, row_id: str
) -> Response:
    """Answer the page `fetch(limit, offset, cursor=...)` returns, its rows written by `serialize` under `name`.

    1. limit and offset come from the query (a bad one is a 400 before anything is read); so does cursor.
    2. `serialize` writes the whole page at once, so it may read what the rows need in one query.
    3. next_cursor continues after the last row (its attributes `at` and `row_id`); None on a short page.
    """
    limit, offset = parse_paging(request.args, default_limit)
    rows, total = fetch(limit, offset, cursor=request.args.get("cursor") or None)
    return jsonify(
        {
            name: serialize(rows),
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_cursor": page_cursor(rows, limit, at, row_id),
        }
    )


def each(write: Callable[[Any], dict]) -> Callable[[list], list[dict]]:
    """Return a page serializer that writes each row with `write`."""
    return lambda rows: [write(row) for row in rows]
