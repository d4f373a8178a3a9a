"""Request bodies of the factory's HTTP endpoints: one parser, one set of rules, typed refusals.

The catalog webhook (flows/ingest.py) and the jobs API (flows/jobs.py) read every body through
:func:`parse_json_body` (the rules of ``common/inputs.py``, shared with the spec loader) and
validate product records with :func:`validate_product`, so both refuse the same things alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.errors import SpecError
from common.inputs import MAX_DEPTH, load_json
from tasks.product import load_product


def validate_product(data: Any, source: str = "webhook") -> dict[str, Any]:
    """The product record as the flow will get it; :class:`SpecError` names the bad field."""
    if not isinstance(data, dict):
        raise SpecError("the body must be a JSON object (a product record)", file=source,
                        field="body")
    product = load_product(data, source)
    if product.image and "://" not in product.image and not Path(product.image).is_absolute():
        raise SpecError(f"{product.image!r} is a relative path, and a {source} body has no "
                        "folder it could be relative to: give an https://, s3:// or file:// "
                        "URL, or an absolute path on the factory's machine", file=source,
                        field="image")
    return product.model_dump(mode="json", exclude_none=True)


class Rejected(Exception):
    """An HTTP answer other than 'emitted': status, message and the field it concerns."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


def parse_json_body(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """A request body as JSON data, by the rules every factory endpoint applies.

    Strict UTF-8; at most ``max_depth`` levels of nesting, counted before parsing; numbers
    finite (no ``NaN``, ``Infinity`` or ``1e400``); no NUL or unpaired surrogate in a string.
    Raises :class:`Rejected`: 400 when the body cannot be parsed, 422 naming the field when a
    parsed value is refused.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(400, f"body is not UTF-8 text (byte {exc.start}: {exc.reason})",
                       "body") from None
    try:
        return load_json(text, source="body", max_depth=max_depth)
    except SpecError as exc:
        if exc.field:
            raise Rejected(422, f"{exc.field}: {exc.detail}", exc.field) from None
        where = f" (line {exc.line})" if exc.line else ""
        raise Rejected(400, f"body is not JSON the factory accepts{where}: {exc.detail}",
                       "body") from None
