"""Product records -> campaigns: the triggered e-commerce clip's input.

A catalog product record (sku, title per locale, price, image, locales) goes through a Jinja2
template (``tasks/templates/product.script.j2``) into a campaign spec with an inline script and
a shared intro and outro, which then loads like any campaign.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jinja2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from common.errors import SpecError
from common.inputs import path_problem
from media.locales import language
from tasks.endcard import cta_for, format_price
from tasks.script import Campaign, load_campaign
from tasks.spec import check_locales, load_structured, validation_error

DEFAULT_PRODUCT_TEMPLATE = Path(__file__).parent / "templates" / "product.script.j2"


class Product(BaseModel):
    """A catalog product record, as a catalog event or a JSON file carries it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: str | dict[str, str]
    price: float = Field(ge=0, allow_inf_nan=False)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    image: str | None = None
    locales: list[str] = Field(min_length=1)
    description: str | dict[str, str] | None = None
    brand: dict[str, Any] | None = None
    cta: dict[str, str] | None = None  # locale -> call to action on the end card

    _locales = field_validator("locales")(check_locales)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        # A path (beside the record), or a URL the flow fetches (storage/fetch.py).
        from storage.fetch import is_url, url_problem

        if v is not None:
            problem = url_problem(v) if is_url(v) else path_problem(v)
            if problem:
                raise ValueError(problem)
        return v

    @field_validator("title", "description", mode="plain")
    @classmethod
    def _localized_text(cls, v: Any, info: ValidationInfo) -> str | dict[str, str] | None:
        # A plain validator instead of pydantic's union: a union names its members in the error
        # location ("title.str"), where the sender wrote "title".
        if v is None and info.field_name == "description":
            return None
        if isinstance(v, str):
            return v
        if isinstance(v, dict) and v and all(isinstance(k, str) and isinstance(t, str)
                                             for k, t in v.items()):
            return dict(v)
        raise ValueError("must be text, or a mapping from locale to text like "
                         "{'en': 'Blue mug', 'de': 'Blaue Tasse'}")

    def localized(self, value: str | dict[str, str] | None, locale: str) -> str:
        if value is None or isinstance(value, str):
            return value or ""
        for key in (locale, language(locale), "en"):
            if key in value:
                return value[key]
        return next(iter(value.values()))


def load_product(data: dict, source: str = "<product>", lines: dict | None = None) -> Product:
    """Validate a product record; errors name the source and the field."""
    if not isinstance(data, dict):
        raise SpecError("a product record must be a mapping with sku, title, price, locales",
                        file=source)
    try:
        product = Product.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, file=source, lines=lines or {}, model="product") from None
    if isinstance(product.title, dict):
        missing = [loc for loc in product.locales
                   if loc not in product.title and language(loc) not in product.title]
        if missing:
            raise SpecError(f"no title for locale(s) {', '.join(missing)}", file=source,
                            field="title")
    return product


def load_product_file(path: str | Path) -> Product:
    path = Path(path)
    data, lines = load_structured(path)
    return load_product(data, str(path), lines)


def product_campaign_yaml(product: Product, *, template: Path | None = None,
                          image_dir: Path | None = None) -> str:
    """Render the product template (Jinja2) into a campaign spec with an inline script."""
    template = template or DEFAULT_PRODUCT_TEMPLATE
    if not template.is_file():
        raise SpecError("no such product template", file=str(template))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True)
    env.filters["yaml_str"] = _yaml_str
    try:
        tpl = env.from_string(template.read_text(encoding="utf-8"))
        image = product.image
        if image and image_dir and not Path(image).is_absolute():
            image = str((image_dir / image).resolve())
        return tpl.render(
            product=product, sku=product.sku, locales=product.locales, image=image,
            brand=product.brand or {"name": "content-factory"},
            titles={loc: _one_line(product.localized(product.title, loc))
                    for loc in product.locales},
            descriptions={loc: _one_line(product.localized(product.description, loc))
                          for loc in product.locales},
            prices={loc: format_price(product.price, product.currency, loc)
                    for loc in product.locales},
            ctas={loc: _one_line(cta_for(product.cta or {}, loc)) for loc in product.locales},
        )
    except jinja2.TemplateError as exc:
        raise SpecError(f"product template failed: {exc}", file=str(template),
                        line=getattr(exc, "lineno", None)) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def load_product_campaign(product: Product, work_dir: Path, *, template: Path | None = None,
                          image_dir: Path | None = None) -> Campaign:
    """Write the product's campaign spec into ``work_dir`` and load it like any campaign."""
    text = product_campaign_yaml(product, template=template, image_dir=image_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    spec_path = work_dir / f"product-{product.sku}.yaml"
    spec_path.write_text(text, encoding="utf-8")
    campaign = load_campaign(spec_path)
    return dataclasses.replace(campaign, kind="product")

