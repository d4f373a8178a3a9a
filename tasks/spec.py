"""Campaign specs: the YAML/JSON file a marketing team writes, validated with line numbers.

A spec names the brand, the output defaults, the locales, where to publish, the model settings
and the script (inline or in a file beside the spec). Every error says file, line and field,
and nothing runs on an invalid spec.

The loader cannot be crashed or hung by what a file holds (``common/inputs.py`` has the rules it
shares with the HTTP endpoints): files are read up to ``MAX_SPEC_BYTES``/``MAX_SCRIPT_BYTES`` as
strict UTF-8; YAML aliases are refused (no "billion laughs") and nesting is limited to
``MAX_DEPTH`` before any node is built; dates stay text; numbers must be finite; paths named in
a spec are checked before they are opened.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from common.errors import ConfigError, SpecError, echo, field_path, gathered, spec_problems
from common.inputs import (
    MAX_DEPTH,
    file_problem,
    load_json,
    path_problem,
    read_text,
    shown,
    text_problem,
    value_problem,
)
from media.colors import parse_hex_color
from media.formats import FORMATS, get_format
from media.locales import is_locale
from model.config import (
    EXPERT_NAMES,
    SAMPLERS,
    SAMPLING_PRESETS,
    STEP_CACHES,
    LoraSettings,
    SamplingSettings,
    sampling_settings,
)
from tasks.audio.spec import AudioField, AudioSpec, resolve_audio

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SIZES = {(1280, 720), (720, 1280), (832, 480), (480, 832), (1280, 704), (704, 1280)}
MAX_SPEC_BYTES = 1024 * 1024    # a spec with a long inline script is tens of kB
MAX_SCRIPT_BYTES = 1024 * 1024


def check_locales(v: list[str]) -> list[str]:
    """Validator for a list of locale codes: each one well-formed, none twice."""
    for loc in v:
        if not is_locale(loc):
            raise ValueError(f"{echo(loc)} is not a locale code like 'en', 'zh-CN' or 'ar'")
    if len(set(v)) != len(v):
        raise ValueError("a locale is listed twice")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrandColors(_Strict):
    primary: str = "#1F2937"
    secondary: str = "#F59E0B"
    text: str = "#FFFFFF"

    @field_validator("primary", "secondary", "text")
    @classmethod
    def _hex(cls, v: str) -> str:
        try:
            r, g, b = parse_hex_color(v)
        except ConfigError:
            raise ValueError(f"{echo(v)} is not a colour like '#1F2937'") from None
        return f"#{r:02X}{g:02X}{b:02X}"


class Brand(_Strict):
    name: str = Field(min_length=1, max_length=80)
    logo: Path | None = None  # PNG with alpha, relative to the spec file
    colors: BrandColors = BrandColors()
    look: Path | None = None  # a .cube 3D LUT, relative to the spec file, applied after matching
    look_strength: float = Field(1.0, ge=0, le=1, description="0: no look, 1: all of it.")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


class ColourSpec(_Strict):
    """Shot matching: every shot's white balance, exposure and saturation towards a reference.

    ``reference``: ``hero`` (the shot whose id is ``hero``, else the first shot), a shot id,
    or an image file (relative to the spec). A shot with ``colour: keep`` in the script is a
    deliberate look and is left as it is."""

    match: bool = True
    reference: str = "hero"
    strength: float = Field(1.0, ge=0, le=1, description="0: no matching, 1: all of it.")


class OutputSpec(_Strict):
    width: int = 832
    height: int = 480
    fps: int = Field(16, ge=8, le=30, description="The model's frame rate (Wan2.2: 16).")
    delivery_fps: int | None = Field(24, ge=8, le=60, description="Frame rate of published clips.")
    shot_duration: float = Field(3.0, gt=0.5, le=30, description="Seconds, when a shot has no "
                                 "duration and no captions to time it from.")
    formats: list[str] | None = Field(None, min_length=1, description="Deliveries: 16:9, 9:16 "
                                      "(rendered), 1:1, 4:5 (cropped); none: one clip at "
                                      "width x height.")
    crop_from: str | None = Field(None, description="The rendered format 1:1 and 4:5 are "
                                  "cropped from: 9:16 or 16:9 (default: 9:16 when listed, else "
                                  "16:9).")

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        for name in v:
            if str(name) not in FORMATS:
                raise ValueError(f"{echo(str(name))}: choose formats from "
                                 f"{', '.join(FORMATS)} (quote them in YAML: \"16:9\")")
        if len(set(v)) != len(v):
            raise ValueError("a format is listed twice")
        return [str(name) for name in v]

    @field_validator("crop_from")
    @classmethod
    def _crop_from(cls, v: str | None) -> str | None:
        if v is not None and (v not in FORMATS or not FORMATS[v].native):
            raise ValueError(f"{echo(v)}: crop from a rendered format, 9:16 or 16:9")
        return v

    def delivery_formats(self) -> list[str | None]:
        """The formats delivered: the listed ones, or ``[None]`` (one clip at the spec's size,
        keys and paths as before formats existed)."""
        return list(self.formats) if self.formats else [None]

    def crop_source(self) -> str:
        """The rendered format that 1:1 and 4:5 are cropped from."""
        if self.crop_from:
            return self.crop_from
        listed = self.formats or []
        if "9:16" in listed:
            return "9:16"
        if "16:9" in listed:
            return "16:9"
        return "9:16" if self.height > self.width else "16:9"

    def rendered_formats(self) -> list[str | None]:
        """The formats the model renders: the listed native ones plus the crop source when a
        cropped format needs it (``[None]`` without ``formats``)."""
        if not self.formats:
            return [None]
        native = [f for f in self.formats if get_format(f).native]
        if any(not get_format(f).native for f in self.formats) and self.crop_source() not in native:
            native.append(self.crop_source())
        return native

    @model_validator(mode="after")
    def _size(self) -> OutputSpec:
        if self.width % 16 or self.height % 16 or not (256 <= self.width <= 1920) \
                or not (256 <= self.height <= 1920):
            raise ValueError(f"size {self.width}x{self.height}: sides must be 256-1920 and "
                             f"multiples of 16 (model sizes: "
                             f"{', '.join(f'{w}x{h}' for w, h in sorted(SIZES))})")
        return self


class LoraSpec(_Strict):
    """A LoRA file for the model: ``path`` relative to the spec file, ``strength`` times its
    alpha/rank scale, merged into the ``experts`` named (high and/or low)."""

    path: Path
    strength: float = Field(1.0, ge=-10, le=10)
    experts: list[str] = Field(default_factory=lambda: list(EXPERT_NAMES), min_length=1)

    @field_validator("experts")
    @classmethod
    def _experts(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in EXPERT_NAMES:
                raise ValueError(f"{name!r}: choose 'high' and/or 'low'")
        if len(set(v)) != len(v):
            raise ValueError("an expert is listed twice")
        return v


class ModelSpec(_Strict):
    """Seed, negative prompt, sampling and LoRAs. A sampling field left out is the model preset's
    own default (``model.config.SamplingSettings``; t2v-a14b: 40 steps, shift 12, guidance
    4.0/3.0), or the named sampling preset's (``sampling: fast``: the 4-step distilled recipe,
    for use with the distill LoRAs).

    ``motion_bucket_id`` and ``noise_aug_strength`` steer Stable Video Diffusion (the svd
    backend; defaults 127 and 0.02). ``ignore_images`` lets a text-to-video model render shots
    that have a photo, from their text alone (otherwise that is an error).
    """

    seed: int = Field(0, ge=0, lt=2**31)
    sampling: str | None = Field(None, description="Sampling preset: default or fast.")
    steps: int | None = Field(None, ge=1, le=200)
    guidance_high: float | None = Field(None, ge=0, le=20)
    guidance_low: float | None = Field(None, ge=0, le=20)
    shift: float | None = Field(None, gt=0, le=50)
    sampler: str | None = None
    step_cache: str | None = Field(None, description="off or easycache (training-free).")
    cache_threshold: float | None = Field(None, gt=0, le=1)
    negative_prompt: str = ""
    loras: list[LoraSpec] = Field(default_factory=list)
    motion_bucket_id: int | None = Field(None, ge=1, le=255, description="SVD: more is more motion.")
    noise_aug_strength: float | None = Field(None, ge=0, le=1, description="SVD: noise added to "
                                             "the photo; more frees the clip from it.")
    ignore_images: bool = False

    @field_validator("sampler")
    @classmethod
    def _sampler(cls, v: str | None) -> str | None:
        if v is not None and v not in SAMPLERS:
            raise ValueError(f"{echo(v)}: choose one of {', '.join(SAMPLERS)}")
        return v

    @field_validator("sampling")
    @classmethod
    def _sampling_preset(cls, v: str | None) -> str | None:
        if v is not None and v not in SAMPLING_PRESETS:
            raise ValueError(f"{v!r}: choose one of {', '.join(SAMPLING_PRESETS)}")
        return v

    @field_validator("step_cache")
    @classmethod
    def _step_cache(cls, v: str | None) -> str | None:
        if v is not None and v not in STEP_CACHES:
            raise ValueError(f"{v!r}: choose one of {', '.join(STEP_CACHES)}")
        return v

    @model_validator(mode="after")
    def _combination(self) -> ModelSpec:
        values = self.sampling_overrides()
        try:  # rules between fields (a step cache never with distilled sampling)
            sampling_settings(SamplingSettings(), values.pop("preset", None), **values)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    def sampling_overrides(self) -> dict:
        """The sampling this spec asks for: a ``preset`` name and the fields it sets (the rest
        stay the model preset's, or the sampling preset's)."""
        values = {"preset": self.sampling, "steps": self.steps,
                  "guidance_high": self.guidance_high, "guidance_low": self.guidance_low,
                  "shift": self.shift, "sampler": self.sampler, "step_cache": self.step_cache,
                  "cache_threshold": self.cache_threshold}
        return {k: v for k, v in values.items() if v is not None}

    def lora_settings(self) -> tuple[LoraSettings, ...]:
        """The LoRAs as the model takes them (paths already resolved by the spec loader)."""
        return tuple(LoraSettings(str(lora.path), lora.strength, tuple(lora.experts))
                     for lora in self.loras)

    def motion(self) -> dict:
        """The SVD motion settings this spec sets (the rest stay the backend's)."""
        values = {"motion_bucket_id": self.motion_bucket_id,
                  "noise_aug_strength": self.noise_aug_strength}
        return {k: v for k, v in values.items() if v is not None}


class PublishSpec(_Strict):
    target: str | None = Field(None, description="file://DIR or s3://BUCKET/PREFIX; default: "
                               "the factory's store_url setting")
    presign_expiry_s: int | None = Field(None, ge=60, le=7 * 24 * 3600)

    @field_validator("target")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(file|s3)://.+", v):
            raise ValueError(f"{echo(v)}: use file://DIR or s3://BUCKET/PREFIX")
        return v


class TemplateShot(_Strict):
    """A reusable shot (intro, outro, background): same template, same render everywhere."""

    visual: str = Field(min_length=1)
    camera: str = "static"
    duration: float | None = Field(None, gt=0.5, le=30)
    seed: int | None = Field(None, ge=0, lt=2**31)
    pin: bool = True  # never evicted from the template cache


class PriceSpec(_Strict):
    amount: float = Field(ge=0, lt=1e12)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY, USD")


class EndCardSpec(_Strict):
    """The closing card: logo, title, price (in each locale's currency format) and the call to
    action (``cta``), held for ``seconds`` after the last shot."""

    seconds: float = Field(2.5, ge=1, le=10)
    title: str | dict[str, str] | None = None  # one text, or one per locale
    price: PriceSpec | None = None

    @field_validator("title")
    @classmethod
    def _title(cls, v: str | dict[str, str] | None) -> str | dict[str, str] | None:
        texts = [v] if isinstance(v, str) else list((v or {}).values())
        if any(not t.strip() or len(t) > 120 for t in texts):
            raise ValueError("a title has 1-120 characters")
        if isinstance(v, dict):
            check_locales(list(v))
        return v


VARIANT_AXES = ("seed", "visual", "captions", "cta", "music", "look", "pacing")
LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
MAX_GRID = 4096      # combinations a variants block may span (the budget picks from them)
MAX_VARIANTS = 64    # clips per locale one run may make
MAX_CTA_CHARS = 80   # one call to action: a short line read in the last seconds


def _check_label(label: str, axis: str) -> str:
    if not isinstance(label, str) or not LABEL.match(label):
        raise ValueError(f"{axis}: label {echo(label)} must be lower-case letters, digits or "
                         "'-' (at most 24), e.g. 'b' or 'shop-now'")
    return label


def _labelled(v: Any) -> Any:
    """``[calm, none]`` -> ``{calm: calm, none: none}``: a list names its values by themselves."""
    if isinstance(v, list):
        return {str(item).lower() if item is None or isinstance(item, bool) else str(item): item
                for item in v}
    return v


class VariantsSpec(_Strict):
    """Versions of the campaign to publish side by side (tasks/variants.py picks and builds them).

    Each axis lists labelled values; a variant takes one value of every axis, and its id names
    them (``seed-b.cta-try.music-calm``). Labels keep their meaning from one spec revision to
    the next, so figures for a variant id always describe the same clip.

    ``seed``: labels (``a``, ``b``) or whole numbers; each is one model seed for the shots
    without a ``seed:`` of their own. ``visual`` / ``captions``: labels of the script's
    ``visual@b:`` and ``[en@b]`` alternatives (a shot without one keeps its plain line).
    ``cta``: label -> {locale: text}. ``music``: label -> a bed name, a file beside the spec or
    none. ``look``: label -> a .cube LUT beside the spec or none. ``pacing``: label -> the
    shot ids in the order the cut shows them (a shot left out is not in that cut).

    ``max``: at most this many variants, picked to cover every value of every axis at least
    once (the first combination is every axis's first value); without it, the full grid.
    """

    max: int | None = Field(None, ge=1, le=MAX_VARIANTS)
    seed: list[str | int] = Field(default_factory=list)
    visual: list[str] = Field(default_factory=list)
    captions: list[str] = Field(default_factory=list)
    cta: dict[str, dict[str, str]] = Field(default_factory=dict)
    music: Annotated[dict[str, str | None], BeforeValidator(_labelled)] = Field(
        default_factory=dict)
    look: Annotated[dict[str, str | None], BeforeValidator(_labelled)] = Field(
        default_factory=dict)
    pacing: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("seed")
    @classmethod
    def _seeds(cls, v: list[str | int]) -> list[str]:
        out = []
        for item in v:
            if isinstance(item, int) and not isinstance(item, bool):
                if not 0 <= item < 2**31:
                    raise ValueError(f"seed {item} must be a whole number from 0 to 2^31-1")
                out.append(str(item))
            else:
                out.append(_check_label(item, "seed"))
        return _unique(out, "seed")

    @field_validator("visual", "captions")
    @classmethod
    def _alternatives(cls, v: list[str], info) -> list[str]:
        return _unique([_check_label(x, info.field_name) for x in v], info.field_name)

    @field_validator("pacing")
    @classmethod
    def _orders(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for label, order in v.items():
            _check_order(order, f"pacing.{label}")
        return v

    @field_validator("cta", "music", "look", "pacing")
    @classmethod
    def _labels(cls, v: dict, info) -> dict:
        for label in v:
            _check_label(label, info.field_name)
        return v

    @field_validator("cta")
    @classmethod
    def _cta_texts(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for label, texts in v.items():
            _check_cta(texts, f"cta.{label}")
        return v

    @field_validator("music", "look")
    @classmethod
    def _off_values(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        return {label: None if value is None or str(value).strip().lower() in
                ("none", "off", "false", "no") else str(value) for label, value in v.items()}

    def axes(self) -> list[tuple[str, list[str]]]:
        """The axes this block varies, in :data:`VARIANT_AXES` order, with their labels."""
        out = []
        for axis in VARIANT_AXES:
            values = getattr(self, axis)
            labels = list(values) if isinstance(values, dict) else list(values)
            if labels:
                out.append((axis, labels))
        return out

    @model_validator(mode="after")
    def _size(self) -> VariantsSpec:
        axes = self.axes()
        if not axes:
            raise ValueError("name at least one axis to vary: seed, visual, captions, cta, "
                             "music or look")
        grid = 1
        for _, labels in axes:
            grid *= len(labels)
        widest = max(len(labels) for _, labels in axes)
        if grid > MAX_GRID:
            raise ValueError(f"the axes make {grid} combinations, more than {MAX_GRID}: drop "
                             "values or axes")
        if self.max is None and grid > MAX_VARIANTS:
            raise ValueError(f"the full grid is {grid} variants: set 'max' (at most "
                             f"{MAX_VARIANTS}) to pick a covering budget")
        if self.max is not None and self.max < widest:
            raise ValueError(f"max {self.max} cannot cover every value: an axis has {widest} "
                             f"values, so max must be at least {widest}")
        return self


def _unique(labels: list[str], axis: str) -> list[str]:
    if len(set(labels)) != len(labels):
        raise ValueError(f"{axis}: a value is listed twice")
    return labels


def _check_order(order: list[str], where: str) -> None:
    if not order:
        raise ValueError(f"{where}: list the shot ids in the order the cut shows them")
    if len(set(order)) != len(order):
        raise ValueError(f"{where}: a shot is listed twice")


def _check_cta(texts: Any, where: str) -> None:
    for loc, text in texts.items():
        if not is_locale(loc):
            raise ValueError(f"{where}: {echo(loc)} is not a locale code like 'en' or 'zh-CN'")
        if not text.strip() or len(text) > MAX_CTA_CHARS or "\n" in text:
            raise ValueError(f"{where}[{loc}]: a call to action is one line of 1 to "
                             f"{MAX_CTA_CHARS} characters")


class CampaignSpec(_Strict):
    id: str
    revision: int = Field(1, ge=1, description="Bumped by `variants promote`; earlier "
                          "revisions are kept beside the spec as NAME.rN.yaml.")
    name: str = ""
    brand: Brand
    output: OutputSpec = OutputSpec()
    locales: list[str] = Field(min_length=1)
    publish: PublishSpec = PublishSpec()
    model: ModelSpec = ModelSpec()
    templates: dict[str, TemplateShot] = Field(default_factory=dict)
    colour: ColourSpec = ColourSpec()
    audio: AudioField = AudioSpec()  # voices, music, loudness (tasks/audio/spec.py); none: silent
    end_card: EndCardSpec | None = None  # logo, title, price, cta after the last shot
    script: str | None = None       # the script inline
    script_file: Path | None = None  # or in a file, relative to the spec
    # A call to action per locale: on the end card when there is one, else shown over the
    # clip's last seconds (a final caption line).
    cta: dict[str, str] = Field(default_factory=dict)
    # Which of the script's ``@label`` alternatives are the defaults (``{visual: b}``); a shot
    # without that alternative keeps its plain line.
    alternatives: dict[str, str] = Field(default_factory=dict)
    # The cut: shot ids in the order the clip shows them (default: the script's; a shot left
    # out is rendered by no one and not shown).
    pacing: list[str] | None = None
    variants: VariantsSpec | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError(f"{echo(v)} must be lower-case letters, digits, '.', '_' or '-' "
                             "(at most 64), e.g. 'spring-launch-2026'")
        return v

    _locales = field_validator("locales")(check_locales)

    @model_validator(mode="after")
    def _one_script(self) -> CampaignSpec:
        if (self.script is None) == (self.script_file is None):
            raise ValueError("give exactly one of 'script' (inline text) or 'script_file'")
        return self

    @field_validator("cta")
    @classmethod
    def _cta(cls, v: dict[str, str]) -> dict[str, str]:
        _check_cta(v, "cta")
        return v

    @field_validator("pacing")
    @classmethod
    def _pacing(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            _check_order(v, "pacing")
        return v

    @field_validator("alternatives")
    @classmethod
    def _alternative_names(cls, v: dict[str, str]) -> dict[str, str]:
        for axis, label in v.items():
            if axis not in ("visual", "captions"):
                raise ValueError(f"{echo(axis)}: the script's alternatives are 'visual' and "
                                 "'captions'")
            _check_label(label, f"alternatives.{axis}")
        return v

    @model_validator(mode="after")
    def _cta_locales(self) -> CampaignSpec:
        given = [("cta", self.cta)] if self.cta else []
        if self.variants is not None:
            given += [(f"variants.cta.{label}", texts)
                      for label, texts in self.variants.cta.items()]
        for where, texts in given:
            missing = [loc for loc in self.locales if loc not in texts]
            extra = [loc for loc in texts if loc not in self.locales]
            if missing or extra:
                raise ValueError(f"{where}: give one call to action per campaign locale "
                                 f"({', '.join(self.locales)})" +
                                 (f"; {extra[0]!r} is not one of them" if extra else
                                  f"; {missing[0]!r} is missing"))
        if self.variants is not None and self.variants.music and self.audio is None:
            raise ValueError("variants.music: the spec says 'audio: none', so no clip has music")
        return self


# --------------------------------------------------------------------------------------------
# Loading with line numbers


class _SpecLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):
    """PyYAML's safe loader (libyaml's parser when available) that leaves dates as text: a
    spec has no date fields, and a malformed one (2026-13-45) would fail in the constructor."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers
                if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


# YAML 1.1 reads ``16:9`` as a base-60 number (969): a spec has no such numbers, and a format
# written without quotes must stay the text it looks like.
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
for _first, _resolvers in list(_SpecLoader.yaml_implicit_resolvers.items()):
    _SpecLoader.yaml_implicit_resolvers[_first] = [
        (tag, re.compile(rf"(?!{_SEXAGESIMAL.pattern}){regexp.pattern}", regexp.flags))
        if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") else (tag, regexp)
        for tag, regexp in _resolvers]


def _yaml_error(exc: yaml.YAMLError, file: str) -> SpecError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    context = getattr(exc, "context", None)
    return SpecError(f"invalid YAML: {problem}{f' ({context})' if context else ''}", file=file,
                     line=mark.line + 1 if mark else None)


def _check_events(text: str, file: str) -> None:
    """Refuse aliases and deep nesting from the parser's events, before any node is built (the
    composer recurses, and an alias can expand a few lines into gigabytes)."""
    depth = 0
    for event in yaml.parse(text, Loader=_SpecLoader):
        if isinstance(event, yaml.AliasEvent):
            raise SpecError("YAML aliases (*name) are not allowed in a spec; write the value "
                            "out where it is used", file=file, line=event.start_mark.line + 1)
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(f"nests more than {MAX_DEPTH} levels deep", file=file,
                                line=event.start_mark.line + 1)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def load_structured(path: Path) -> tuple[dict, dict[tuple, int]]:
    """Parse a YAML or JSON file into data plus a map from key path to 1-based line."""
    file = shown(path)
    text = read_text(path, max_bytes=MAX_SPEC_BYTES, what="spec")
    if Path(path).suffix.lower() == ".json":
        load_json(text, source=file)  # JSON's own errors and rules, before it is read as YAML
    loader = None
    try:
        _check_events(text, file)
        loader = _SpecLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. an integer of 5,000 digits
        raise SpecError(f"invalid value: {exc}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise SpecError("the top level must be a mapping of fields (id, brand, locales, ...)",
                        file=file, line=1)
    lines: dict[tuple, int] = {}
    _collect_lines(node, (), lines)
    bad = value_problem(data)
    if bad:
        raise SpecError(bad[1], file=file, field=bad[0], line=_line_of(lines, bad[0]))
    return data, lines


def _line_of(lines: dict[tuple, int], field: str) -> int | None:
    for loc, line in lines.items():
        if field_path(loc) == field:
            return line
    return None


def _collect_lines(node: Any, path: tuple, out: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            _collect_lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _collect_lines(item, (*path, i), out)


def line_for(lines: dict[tuple, int], loc: tuple) -> int | None:
    """The line of the deepest known prefix of ``loc``."""
    for n in range(len(loc), 0, -1):
        if tuple(loc[:n]) in lines:
            return lines[tuple(loc[:n])]
    return None


def validation_error(exc: ValidationError, *, file: str, lines: dict[tuple, int],
                     model: str) -> SpecError:
    """Every problem pydantic found, each naming its field and line (:class:`SpecErrors` when
    there are several)."""
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "__root__")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        problems.append(SpecError(msg, file=file, line=line_for(lines, loc),
                                  field=field_path(loc) or model))
    return spec_problems(problems)


def _lenient_spec(data: dict, exc: ValidationError) -> CampaignSpec | None:
    """The spec with its invalid top-level fields set to defaults (or stand-ins for the required
    ones), so the script can still be checked against it; None when that cannot be done."""
    fixed = dict(data)
    for err in exc.errors():
        if not err["loc"]:
            return None  # a rule between fields (script and script_file): no script to read
        top = err["loc"][0]
        if top == "id":
            fixed["id"] = "campaign"
        elif top == "brand":
            fixed["brand"] = {"name": "brand"}
        elif top == "locales":
            raw = data.get("locales") if isinstance(data.get("locales"), list) else []
            fixed["locales"] = list(dict.fromkeys(
                loc for loc in raw if isinstance(loc, str) and is_locale(loc))) or ["en"]
        else:
            fixed.pop(top, None)
    try:
        return CampaignSpec.model_validate(fixed)
    except ValidationError:
        return None


def _resolve_lora(lora: LoraSpec, index: int, base: Path, spec_path: Path,
                  lines: dict[tuple, int]) -> LoraSpec:
    """The LoRA with its path resolved against the spec's folder; a missing file, or one that is
    not a .safetensors file, is a SpecError naming it."""
    from model.lora import safetensors_keys  # reads the header only

    resolved = (base / lora.path).resolve()
    try:
        safetensors_keys(resolved)
    except ConfigError as exc:
        raise SpecError(str(exc), file=str(spec_path),
                        line=line_for(lines, ("model", "loras", index, "path")),
                        field=field_path(("model", "loras", index, "path"))) from None
    return lora.model_copy(update={"path": resolved})


def load_campaign_spec(path: str | Path, problems: list[SpecError] | None = None
                       ) -> tuple[CampaignSpec | None, str, int]:
    """Load and validate a campaign spec. Returns the spec, the script text and its first line.

    Relative paths inside the spec (logo, script_file, model.loras[].path) are resolved against
    the spec's folder. With ``problems`` (a list), every problem found is added to it and the
    checks go on (``content-factory validate`` shows them all): the spec returned then has
    stand-ins for its invalid fields, or is None when even those cannot make one.
    """
    path = Path(path)
    data, lines = load_structured(path)
    file = shown(path)
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as exc:
        if problems is None:
            raise validation_error(exc, file=file, lines=lines, model="campaign") from None
        problems.extend(getattr(error := validation_error(exc, file=file, lines=lines,
                                                          model="campaign"),
                                "problems", [error]))
        spec = _lenient_spec(data, exc)
        if spec is None:
            return None, "", 1
    base = path.parent
    if spec.brand.logo is not None:
        with gathered(problems):
            problem = path_problem(spec.brand.logo) or file_problem(base / spec.brand.logo)
            if problem:
                raise SpecError(f"logo file {shown(spec.brand.logo)}: {problem}", file=file,
                                line=lines.get(("brand", "logo")), field="brand.logo")
            logo = (base / spec.brand.logo).resolve()
            spec = spec.model_copy(update={"brand": spec.brand.model_copy(update={"logo": logo})})
    if spec.brand.look is not None:
        with gathered(problems):
            spec = spec.model_copy(update={"brand": spec.brand.model_copy(update={
                "look": _checked_look(base / spec.brand.look, path, lines)})})
    if spec.colour.reference.lower().endswith(IMAGE_SUFFIXES):
        with gathered(problems):
            image = (base / spec.colour.reference).resolve()
            if not image.is_file():
                raise SpecError(f"reference image {image} does not exist", file=str(path),
                                line=lines.get(("colour", "reference")), field="colour.reference")
            spec = spec.model_copy(update={"colour": spec.colour.model_copy(update={
                "reference": str(image)})})
    if spec.model.loras:
        resolved = []
        for i, lora in enumerate(spec.model.loras):
            with gathered(problems):
                resolved.append(_resolve_lora(lora, i, base, path, lines))
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={
            "loras": resolved})})
    with gathered(problems):
        spec = spec.model_copy(update={"audio": resolve_audio(spec.audio, base, file=str(path),
                                                              lines=lines)})
    if spec.variants is not None:
        with gathered(problems):
            spec = spec.model_copy(update={"variants": _resolve_variants(spec, base, path, lines)})
    if spec.script_file is not None:
        problem = path_problem(spec.script_file) or file_problem(base / spec.script_file)
        if problem:
            error = SpecError(f"script file {shown(spec.script_file)}: {problem}", file=file,
                              line=lines.get(("script_file",)), field="script_file")
            if problems is None:
                raise error
            problems.append(error)
            return spec, "", 1
        script_path = (base / spec.script_file).resolve()
        return spec, read_text(script_path, max_bytes=MAX_SCRIPT_BYTES, what="script"), 1
    # Inline block scalar: the script's first line is the one after `script: |`.
    first = (lines.get(("script",)) or 0) + 1
    bad = text_problem(spec.script or "")
    if bad:
        raise SpecError(f"the script holds {bad[1]}", file=file, line=first + bad[0] - 1,
                        field="script")
    return spec, spec.script or "", first


def _resolve_variants(spec: CampaignSpec, base: Path, spec_path: Path,
                      lines: dict[tuple, int]) -> VariantsSpec:
    """The variants' music and look files made absolute and checked, as the spec's own are."""
    variants = spec.variants
    music = {}
    for label, value in variants.music.items():
        where = ("variants", "music", label)
        if value is None:
            music[label] = None
            continue
        try:
            resolved = resolve_audio(AudioSpec(music=value), base, file=str(spec_path),
                                     lines={("audio", "music"): line_for(lines, where)})
        except SpecError as exc:
            raise SpecError(exc.detail, file=exc.file, line=exc.line,
                            field=f"variants.music.{label}") from None
        music[label] = resolved.music
    look = {}
    for label, value in variants.look.items():
        look[label] = None if value is None else str(_checked_look(
            base / value, spec_path, {("brand", "look"): line_for(lines, ("variants", "look",
                                                                          label))},
            field=f"variants.look.{label}"))
    return variants.model_copy(update={"music": music, "look": look})


def _checked_look(look: Path, spec_path: Path, lines: dict[tuple, int],
                  field: str = "brand.look") -> Path:
    """The brand look's LUT, resolved and read once: a missing file is an error at the spec's
    ``brand.look`` line, a bad one at the LUT's own line."""
    from tasks.grade.cube import load_cube

    problem = path_problem(look)
    if problem:  # before touching the file system: a 300-byte name is an OSError there
        raise SpecError(f"LUT file {shown(look)}: {problem}", file=str(spec_path),
                        line=lines.get(("brand", "look")), field=field)
    look = look.resolve()
    if not look.is_file():
        raise SpecError(f"LUT file {look} does not exist", file=str(spec_path),
                        line=lines.get(("brand", "look")), field=field)
    load_cube(look, field=field)
    return look
