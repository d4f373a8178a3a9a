"""Product records: validated with the field named, and turned into a campaign by a template."""

from __future__ import annotations

import pytest

from common.errors import SpecError
from tasks.product import load_product, load_product_campaign


def test_product_record_through_template(tmp_path):
    product = load_product({"sku": "SKU-9", "title": {"en": "Blue Mug", "zh-CN": "蓝色马克杯"},
                            "price": 12, "currency": "EUR", "locales": ["en", "zh-CN"]})
    campaign = load_product_campaign(product, tmp_path)
    assert campaign.kind == "product" and campaign.id == "product-sku-9"
    assert [s.id for s in campaign.shots] == ["intro", "hero", "outro"]
    hero = campaign.shots[1]
    assert hero.captions == {"en": ["Blue Mug", "€12.00"], "zh-CN": ["蓝色马克杯", "€12.00"]}
    assert "Blue Mug" in hero.prompt
    other = load_product_campaign(load_product({"sku": "B", "title": "Cup", "price": 1,
                                                "locales": ["en"]}), tmp_path)
    # Intro and outro are template shots: identical across products (one render for all).
    assert other.shots[0].seed == campaign.shots[0].seed
    assert other.shots[0].prompt == campaign.shots[0].prompt


def test_a_product_clip_ends_with_title_price_and_call_to_action_per_locale(tmp_path):
    from tasks.endcard import end_card_text

    product = load_product({"sku": "T", "title": {"en": "Jasmine Pearl", "ar": "لؤلؤ الياسمين",
                                                  "ja": "ジャスミンパール"},
                            "price": 1850, "currency": "JPY", "locales": ["en", "ar", "ja"],
                            "cta": {"en": "Taste it today"}})
    spec = load_product_campaign(product, tmp_path).spec
    en, ar, ja = (end_card_text(spec, loc) for loc in ("en", "ar", "ja"))
    assert (en.title, en.price, en.cta) == ("Jasmine Pearl", "¥1,850", "Taste it today")
    assert ja.price == "￥1,850" and ja.cta == "今すぐ購入"   # CLDR's ja yen; the default CTA
    # CLDR's Arabic: a right-to-left mark, the amount, then the symbol
    assert ar.title == "لؤلؤ الياسمين" and ar.price == "\u200f1,850\xa0JP¥" \
        and ar.cta == "تسوق الآن"
    assert en.seconds == 2.5


@pytest.mark.parametrize("record,field", [
    ({"title": "x", "price": 1, "locales": ["en"]}, "sku"),
    ({"sku": "A", "title": "x", "price": -1, "locales": ["en"]}, "price"),
    ({"sku": "A", "title": "x", "price": 1, "locales": []}, "locales"),
    ({"sku": "A", "title": {"fr": "x"}, "price": 1, "locales": ["en", "zh-CN"]}, "title"),
    ({"sku": "A b", "title": "x", "price": 1, "locales": ["en"]}, "sku"),
])
def test_bad_product_records_name_the_field(record, field):
    with pytest.raises(SpecError) as err:
        load_product(record, "catalog event")
    assert err.value.field == field
    assert "catalog event" in str(err.value)
