"""Campaign specs: the YAML/JSON file a marketing team writes, validated with line numbers.

A spec names the brand, the output defaults, the locales, where to publish, the model settings
and the script (inline or in a file beside the spec). Every error says file, line and field,
and nothing runs on an invalid spec.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.errors import ConfigError, SpecError, field_path
from media.colors import parse_hex_color
from media.locales import is_locale
from model.config import SAMPLERS
from tasks.audio.spec import AudioField, AudioSpec, resolve_audio

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SIZES = {(1280, 720), (720, 1280), (832, 480), (480, 832), (1280, 704), (704, 1280)}


def check_locales(v: list[str]) -> list[str]:
    """Validator for a list of locale codes: each one well-formed, none twice."""
    for loc in v:
        if not is_locale(loc):
            raise ValueError(f"{loc!r} is not a locale code like 'en', 'zh-CN' or 'ar'")
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
            raise ValueError(f"{v!r} is not a colour like '#1F2937'") from None
        return f"#{r:02X}{g:02X}{b:02X}"


class Brand(_Strict):
    name: str = Field(min_length=1, max_length=80)
    logo: Path | None = None  # PNG with alpha, relative to the spec file
    colors: BrandColors = BrandColors()


class OutputSpec(_Strict):
    width: int = 832
    height: int = 480
    fps: int = Field(16, ge=8, le=30, description="The model's frame rate (Wan2.2: 16).")
    delivery_fps: int | None = Field(24, ge=8, le=60, description="Frame rate of published clips.")
    shot_duration: float = Field(3.0, gt=0.5, le=30, description="Seconds, when a shot has no "
                                 "duration and no captions to time it from.")

    @model_validator(mode="after")
    def _size(self) -> OutputSpec:
        if self.width % 16 or self.height % 16 or not (256 <= self.width <= 1920) \
                or not (256 <= self.height <= 1920):
            raise ValueError(f"size {self.width}x{self.height}: sides must be 256-1920 and "
                             f"multiples of 16 (model sizes: "
                             f"{', '.join(f'{w}x{h}' for w, h in sorted(SIZES))})")
        return self


class ModelSpec(_Strict):
    """Seed, negative prompt and sampling. A sampling field left out is the model preset's own
    default (``model.config.SamplingSettings``; t2v-a14b: 40 steps, shift 12, guidance 4.0/3.0)."""

    seed: int = Field(0, ge=0, lt=2**31)
    steps: int | None = Field(None, ge=1, le=200)
    guidance_high: float | None = Field(None, ge=0, le=20)
    guidance_low: float | None = Field(None, ge=0, le=20)
    shift: float | None = Field(None, gt=0, le=50)
    sampler: str | None = None
    negative_prompt: str = ""

    @field_validator("sampler")
    @classmethod
    def _sampler(cls, v: str | None) -> str | None:
        if v is not None and v not in SAMPLERS:
            raise ValueError(f"{v!r}: choose one of {', '.join(SAMPLERS)}")
        return v

    def sampling(self) -> dict:
        """The sampling settings this spec sets (the rest stay the preset's)."""
        values = {"steps": self.steps, "guidance_high": self.guidance_high,
                  "guidance_low": self.guidance_low, "shift": self.shift, "sampler": self.sampler}
        return {k: v for k, v in values.items() if v is not None}


class PublishSpec(_Strict):
    target: str | None = Field(None, description="file://DIR or s3://BUCKET/PREFIX; default: "
                               "the factory's store_url setting")
    presign_expiry_s: int | None = Field(None, ge=60, le=7 * 24 * 3600)

    @field_validator("target")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(file|s3)://.+", v):
            raise ValueError(f"{v!r}: use file://DIR or s3://BUCKET/PREFIX")
        return v


class TemplateShot(_Strict):
    """A reusable shot (intro, outro, background): same template, same render everywhere."""

    visual: str = Field(min_length=1)
    camera: str = "static"
    duration: float | None = Field(None, gt=0.5, le=30)
    seed: int | None = Field(None, ge=0, lt=2**31)
    pin: bool = True  # never evicted from the template cache


class CampaignSpec(_Strict):
    id: str
    name: str = ""
    brand: Brand
    output: OutputSpec = OutputSpec()
    locales: list[str] = Field(min_length=1)
    publish: PublishSpec = PublishSpec()
    model: ModelSpec = ModelSpec()
    templates: dict[str, TemplateShot] = Field(default_factory=dict)
    audio: AudioField = AudioSpec()  # voices, music, loudness (tasks/audio/spec.py); none: silent
    script: str | None = None       # the script inline
    script_file: Path | None = None  # or in a file, relative to the spec

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError(f"{v!r} must be lower-case letters, digits, '.', '_' or '-' "
                             "(at most 64), e.g. 'spring-launch-2026'")
        return v

    _locales = field_validator("locales")(check_locales)

    @model_validator(mode="after")
    def _one_script(self) -> CampaignSpec:
        if (self.script is None) == (self.script_file is None):
            raise ValueError("give exactly one of 'script' (inline text) or 'script_file'")
        return self


# --------------------------------------------------------------------------------------------
# Loading with line numbers


def load_structured(path: Path) -> tuple[dict, dict[tuple, int]]:
    """Parse a YAML or JSON file into data plus a map from key path to 1-based line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                        file=str(path)) from None
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SpecError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                        line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise SpecError("the top level must be a mapping of fields (id, brand, locales, ...)",
                        file=str(path), line=1)
    lines: dict[tuple, int] = {}
    _collect_lines(node, (), lines)
    return data, lines


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
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if p != "__root__")
    field = field_path(loc) or model
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling)"
    elif err["type"] == "missing":
        msg = "required field is missing"
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return SpecError(msg + more, file=file, line=line_for(lines, loc), field=field)


def load_campaign_spec(path: str | Path) -> tuple[CampaignSpec, str, int]:
    """Load and validate a campaign spec. Returns the spec, the script text and its first line.

    Relative paths inside the spec (logo, script_file) are resolved against the spec's folder.
    """
    path = Path(path)
    data, lines = load_structured(path)
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, file=str(path), lines=lines, model="campaign") from None
    base = path.parent
    if spec.brand.logo is not None:
        logo = (base / spec.brand.logo).resolve()
        if not logo.is_file():
            raise SpecError(f"logo file {logo} does not exist", file=str(path),
                            line=lines.get(("brand", "logo")), field="brand.logo")
        spec = spec.model_copy(update={"brand": spec.brand.model_copy(update={"logo": logo})})
    spec = spec.model_copy(update={"audio": resolve_audio(spec.audio, base, file=str(path),
                                                          lines=lines)})
    if spec.script_file is not None:
        script_path = (base / spec.script_file).resolve()
        if not script_path.is_file():
            raise SpecError(f"script file {script_path} does not exist", file=str(path),
                            line=lines.get(("script_file",)), field="script_file")
        return spec, script_path.read_text(encoding="utf-8"), 1
    # Inline block scalar: the script's first line is the one after `script: |`.
    return spec, spec.script or "", (lines.get(("script",)) or 0) + 1
