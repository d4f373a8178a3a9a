"""Campaign scripts -> shots (product records become scripts in :mod:`tasks.product`).

The script is written by people, one block per shot::

    ## hero: The first cup          <- shot id, optional title
    duration: 4s                    <- optional; else timed from the longest caption
    camera: slow push-in            <- optional camera hint
    visual: A glass teapot on a sunlit wooden table, steam rising
    negative: blurry, watermark     <- optional, added to the campaign's negative prompt
    seed: 7                         <- optional; default derived from campaign seed + shot id
    image: bottle.png               <- optional photo beside the spec (image-to-video starts there)
    template: intro                 <- optional: use the campaign's template shot 'intro'
    colour: keep                    <- optional: a deliberate look, not matched to the others
    [en] Spring is here.            <- caption lines, one or more per locale
    [zh-CN] 春天来了。
    [en] say: Spring is here.       <- narration per locale, spoken by the locale's voice; the
                                       captions default to it (one caption per sentence)
    visual@b: A teapot in the rain  <- optional alternatives for the spec's variants (label b)
    [en@b] Rain or shine.              (tasks/variants.py); the shot keeps its length, timed
                                       from its plain lines

Lines starting with a single ``#`` are comments. Every error names the file, line and field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import SpecError, echo, gathered, spec_problems
from common.inputs import file_problem, path_problem
from media.locales import is_locale
from tasks.audio.sentences import split_sentences
from tasks.spec import CampaignSpec, load_campaign_spec
from tasks.subtitles.cues import seconds_to_read

PADDING_S = 0.6  # lead-in and lead-out around the captions
MIN_SHOT_S, MAX_SHOT_S = 1.0, 30.0
KEYS = ("duration", "camera", "visual", "negative", "seed", "image", "template", "colour")
COLOUR_CHOICES = ("match", "keep")
# Limits that keep a script's cost bounded (the line breaker weighs every caption): more shots
# than this is not one clip, and more caption text than this per shot and locale cannot be read
# in a 30-second shot at any locale's reading speed (English, the fastest: 20 characters/s).
MAX_SHOTS = 100
MAX_CAPTION_CHARS = 200          # one caption line
MAX_SHOT_CAPTION_CHARS = 600     # all of one shot's captions in one locale
MAX_FIELD_CHARS = 2000           # a visual description, camera hint or negative prompt

_FIELD = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)(?:@(?P<alt>[^\s:]*))?\s*:\s*(?P<value>.*)$")
_ALT_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
_CAPTION = re.compile(r"^\[(?P<locale>[^\]]+)\]\s*(?P<text>.*)$")
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds)?$")
_SHOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SAY = "say:"  # a '[locale] say: ...' line is narration, not a caption


@dataclass(frozen=True)
class Shot:
    """One shot of a campaign: what the model renders and what each locale reads."""

    id: str
    position: int
    title: str
    visual: str
    camera: str
    prompt: str            # the T2V prompt: visual description + camera hint
    negative_prompt: str
    duration: float        # seconds on screen
    frames: int            # 4n+1 at the model's fps
    seed: int
    captions: dict[str, list[str]] = field(default_factory=dict)
    image: str | None = None
    template: str | None = None
    line: int = 0          # where the shot starts in the script
    colour: str = "match"  # "keep": a deliberate colour, left out of shot matching
    narration: dict[str, list[str]] = field(default_factory=dict)  # locale -> sentences
    fixed_duration: bool = False  # set by 'duration:' or the template: speech may not lengthen it
    alt_visuals: dict[str, str] = field(default_factory=dict)  # label -> visual@label
    alt_captions: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # label -> loc


def frames_for(duration: float, fps: int, *, at_least: bool = False) -> int:
    """A frame count of the form 4n+1 (the VAE's 4x temporal compression) for ``duration``: the
    nearest one, or with ``at_least`` the first that lasts ``duration`` or longer."""
    n = (duration * fps - 1) / 4
    n = max(1, math.ceil(n - 1e-9) if at_least else round(n))
    return 4 * n + 1


def caption_duration(captions: dict[str, list[str]]) -> float | None:
    """The time the slowest locale needs to read its captions (the subtitle stage's own rule,
    :func:`tasks.subtitles.cues.seconds_to_read`) plus padding; None without captions."""
    if not captions:
        return None
    longest = max(seconds_to_read(lines, loc) for loc, lines in captions.items())
    return min(MAX_SHOT_S, max(MIN_SHOT_S * 2, longest + PADDING_S))


def parse_header(line: str) -> tuple[str, str] | None:
    """``## id: Title`` -> ``("id", "Title")``; None unless ``line`` starts with ``##``.

    Split by hand rather than by a regular expression: a lazy id pattern followed by optional
    spaces took quadratic time on a header padded with spaces (20,000 spaces: 11.7 s).
    """
    if not line.startswith("##"):
        return None
    shot_id, _, title = line[2:].partition(":")
    return shot_id.strip(), title.strip()


def derive_seed(*parts: Any) -> int:
    blob = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def parse_script(text: str, spec: CampaignSpec, *, file: str = "<script>",
                 first_line: int = 1, base_dir: Path | None = None,
                 problems: list[SpecError] | None = None) -> list[Shot]:
    """Parse the script text into shots, checking it against the campaign spec.

    With ``problems`` (a list), every problem is added to it and parsing goes on past it (a
    shot with a problem is still checked to its end); otherwise the first one is raised.
    """
    def report(error: SpecError) -> None:
        if problems is None:
            raise error
        problems.append(error)

    blocks: list[tuple[int, str, str, list[tuple[int, str]]]] = []
    for offset, raw in enumerate(text.splitlines()):
        lineno = first_line + offset
        line = raw.strip()
        if not line or (line.startswith("#") and not line.startswith("##")):
            continue
        header = parse_header(line)
        if header and not header[0]:
            report(SpecError("a shot header needs an id, like '## intro: Title'", file=file,
                             line=lineno, field="shots"))
        elif header:
            blocks.append((lineno, header[0], header[1], []))
        elif not blocks:
            report(SpecError("text before the first shot; start each shot with '## <id>'",
                             file=file, line=lineno, field="shots"))
        else:
            blocks[-1][3].append((lineno, line))
    if not blocks:
        report(SpecError("the script has no shots; start each shot with '## <id>'", file=file,
                         line=first_line, field="script"))
        return []
    if len(blocks) > MAX_SHOTS:
        raise SpecError(f"the script has {len(blocks)} shots, more than the {MAX_SHOTS} one "
                        "campaign may have; split it into several campaigns", file=file,
                        line=blocks[MAX_SHOTS][0], field="shots")
    shots: list[Shot] = []
    seen: dict[str, int] = {}
    for position, (lineno, shot_id, title, body) in enumerate(blocks):
        if not _SHOT_ID.match(shot_id):
            report(SpecError(f"shot id {echo(shot_id)} may use letters, digits, '-' and '_' "
                             "only", file=file, line=lineno, field="shots"))
            continue
        if shot_id in seen:
            report(SpecError(f"shot id {echo(shot_id)} is used twice (first at line "
                             f"{seen[shot_id]})", file=file, line=lineno,
                             field=f"shots.{shot_id}"))
            continue
        seen[shot_id] = lineno
        shots.append(_parse_shot(spec, shot_id, title, position, lineno, body, file, base_dir,
                                 report))
    if spec.pacing and shots:
        try:
            return paced(shots, spec.pacing, file=file)
        except SpecError as error:
            report(error)
    return shots


def paced(shots: list[Shot], order: list[str], *, file: str, field: str = "pacing"
          ) -> list[Shot]:
    """The shots in ``order`` (shot ids; one left out is not in the cut), renumbered."""
    by_id = {shot.id: shot for shot in shots}
    unknown = [shot_id for shot_id in order if shot_id not in by_id]
    if unknown:
        raise SpecError(f"{unknown[0]!r} is not a shot of the script "
                        f"({', '.join(by_id)})", file=file, field=field)
    return [dataclasses.replace(by_id[shot_id], position=i) for i, shot_id in enumerate(order)]


def _parse_shot(spec: CampaignSpec, shot_id: str, title: str, position: int, lineno: int,
                body: list[tuple[int, str]], file: str, base_dir: Path | None,
                report: Callable[[SpecError], None]) -> Shot:
    """One shot; each problem goes to ``report`` (which raises it, or keeps it and lets the
    checks go on with a stand-in value)."""
    values: dict[str, tuple[int, str]] = {}
    captions: dict[str, list[str]] = {}
    narration: dict[str, list[str]] = {}
    alt_visuals: dict[str, str] = {}
    alt_captions: dict[str, dict[str, list[str]]] = {}
    where = f"shot {shot_id!r}"

    def at(name: str) -> str:  # the field path of this shot's ``name``
        return f"shots.{shot_id}.{name}"

    for ln, line in body:
        try:
            cap = _CAPTION.match(line)
            if cap:
                loc, caption = cap["locale"].strip(), cap["text"].strip()
                loc, at_sign, label = loc.partition("@")
                kind = "say" if caption.startswith(SAY) else "caption"
                what = "narration" if kind == "say" else "caption"
                if at_sign:
                    if kind == "say":
                        raise SpecError(f"{where}: narration has no alternatives (it times the "
                                        "shot); write '[locale@label] text' for caption copy only",
                                        file=file, line=ln, field=at(f"say[{loc}]"))
                    if not _ALT_LABEL.match(label):
                        raise SpecError(f"{where}: alternative label {echo(label)} must be lower-case "
                                        "letters, digits or '-', like '[en@b]'", file=file, line=ln,
                                        field=at(f"caption[{loc}]"))
                if not is_locale(loc):
                    raise SpecError(f"{where}: {echo(loc)} is not a locale code like 'en' or 'zh-CN'",
                                    file=file, line=ln, field=at(kind))
                if loc not in spec.locales:
                    raise SpecError(f"{where}: {what} for {echo(loc)}, which is not in the campaign's "
                                    f"locales ({', '.join(spec.locales)})", file=file, line=ln,
                                    field=at(f"{kind}[{loc}]"))
                if kind == "say":
                    caption = caption[len(SAY):].strip()
                if not caption:
                    raise SpecError(f"{where}: empty {what}", file=file, line=ln,
                                    field=at(f"{kind}[{loc}]"))
                bucket = narration if kind == "say" else captions
                total = len(caption) + sum(len(c) for c in bucket.get(loc, []))
                if len(caption) > MAX_CAPTION_CHARS or total > MAX_SHOT_CAPTION_CHARS:
                    raise SpecError(f"{where}: {what} of more than {MAX_CAPTION_CHARS} characters "
                                    f"a line or {MAX_SHOT_CAPTION_CHARS} a shot cannot be read in "
                                    "time; shorten them or split the shot", file=file, line=ln,
                                    field=at(f"{kind}[{loc}]"))
                if at_sign:
                    alt_captions.setdefault(label, {}).setdefault(loc, []).append(caption)
                    if sum(len(c) for c in alt_captions[label][loc]) > MAX_SHOT_CAPTION_CHARS:
                        raise SpecError(f"{where}: caption alternative {label!r} of more than "
                                        f"{MAX_SHOT_CAPTION_CHARS} characters cannot be read in "
                                        "time", file=file, line=ln, field=at(f"caption[{loc}]"))
                elif kind == "say":
                    narration.setdefault(loc, []).extend(split_sentences(caption))
                else:
                    captions.setdefault(loc, []).append(caption)
                continue
            fld = _FIELD.match(line)
            if not fld:
                raise SpecError(f"{where}: expected 'field: value', '[locale] caption' or '[locale] "
                                f"say: narration', got {echo(line, 40)}", file=file, line=ln,
                                field=f"shots.{shot_id}")
            key = fld["key"].lower()
            if fld["alt"] is not None:
                if key != "visual" or not _ALT_LABEL.match(fld["alt"]):
                    raise SpecError(f"{where}: {echo(fld['key'] + '@' + fld['alt'])}: only 'visual' "
                                    "has alternatives, labelled with lower-case letters, digits or "
                                    "'-' (like 'visual@b:')", file=file, line=ln, field=at(key))
                label = fld["alt"]
                text = fld["value"].strip()
                if not text or len(text) > MAX_FIELD_CHARS:
                    raise SpecError(f"{where}: 'visual@{label}' needs a description of at most "
                                    f"{MAX_FIELD_CHARS} characters", file=file, line=ln,
                                    field=at(f"visual@{label}"))
                alt_visuals[label] = f"{alt_visuals[label]} {text}" if label in alt_visuals else text
                continue
            if key not in KEYS:
                raise SpecError(f"{where}: unknown field {echo(key)} (expected one of "
                                f"{', '.join(KEYS)})", file=file, line=ln, field=at(key))
            if key in values and key != "visual":
                raise SpecError(f"{where}: {echo(key)} is given twice", file=file, line=ln, field=at(key))
            if key == "visual" and key in values:  # several visual lines read as one description
                values[key] = (values[key][0], f"{values[key][1]} {fld['value'].strip()}")
            else:
                values[key] = (ln, fld["value"].strip())
            if len(values[key][1]) > MAX_FIELD_CHARS:
                raise SpecError(f"{where}: {key!r} is longer than {MAX_FIELD_CHARS} characters",
                                file=file, line=ln, field=at(key))
        except SpecError as error:
            report(error)

    def get(key: str) -> tuple[int, str] | tuple[None, None]:
        return values.get(key, (None, None))

    template_name = get("template")[1]
    template = None
    if template_name is not None:
        template = spec.templates.get(template_name)
        if template is None:
            report(SpecError(f"{where}: template {echo(template_name)} is not defined in the "
                             f"spec's 'templates' ({', '.join(spec.templates) or 'none defined'})",
                             file=file, line=get("template")[0], field=at("template")))
    visual_line, visual = get("visual")
    if visual is None and template is not None:
        visual = template.visual
    if not visual:
        report(SpecError(f"{where}: a shot needs a 'visual:' description (what the camera "
                         "sees)", file=file, line=visual_line or lineno, field=at("visual")))
        visual = ""
    camera = get("camera")[1] or (template.camera if template else "static")

    unsaid = [loc for loc in spec.locales if loc not in narration]
    if narration and unsaid:
        report(SpecError(f"{where}: no narration for locale(s) {', '.join(unsaid)} (every "
                         "shot with narration needs a '[locale] say: ...' line per campaign "
                         "locale)", file=file, line=lineno, field=at(f"say[{unsaid[0]}]")))
    for loc, sentences in narration.items():  # the captions default to the narration
        captions.setdefault(loc, list(sentences))
    missing = [loc for loc in spec.locales if loc not in captions]
    if captions and missing:
        report(SpecError(f"{where}: no caption for locale(s) {', '.join(missing)} (every shot "
                         "with captions needs one per campaign locale)", file=file, line=lineno,
                         field=at(f"caption[{missing[0]}]")))

    for label, texts in alt_captions.items():
        lacking = [loc for loc in spec.locales if loc not in texts]
        if lacking:
            raise SpecError(f"{where}: caption alternative {label!r} has no line for locale(s) "
                            f"{', '.join(lacking)} (give '[{lacking[0]}@{label}] ...')",
                            file=file, line=lineno, field=at(f"caption[{lacking[0]}]"))

    dur_line, dur_text = get("duration")
    m = _DURATION.match(dur_text) if dur_text is not None else None
    if dur_text is not None and (not m or not (MIN_SHOT_S <= float(m["n"]) <= MAX_SHOT_S)):
        report(SpecError(f"{where}: duration {echo(dur_text)} must be seconds between "
                         f"{MIN_SHOT_S:g} and {MAX_SHOT_S:g}, like '4s'", file=file,
                         line=dur_line, field=at("duration")))
        dur_text = None
    if dur_text is not None:
        duration = float(m["n"])
    elif template is not None and template.duration is not None:
        duration = template.duration
    else:
        duration = caption_duration(captions) or spec.output.shot_duration

    seed_line, seed_text = get("seed")
    if seed_text is not None and (not re.fullmatch(r"\d{1,10}", seed_text)
                                  or int(seed_text) >= 2**31):
        report(SpecError(f"{where}: seed {echo(seed_text)} must be a whole number below 2^31",
                         file=file, line=seed_line, field=at("seed")))
        seed_text = None
    if seed_text is not None:
        seed = int(seed_text)
    elif template is not None:
        # A template renders the same in every campaign: its seed depends on it alone.
        seed = template.seed if template.seed is not None else derive_seed("template",
                                                                           template_name)
    else:
        seed = derive_seed(spec.model.seed, spec.id, shot_id)

    image_line, image = get("image")
    if image is not None:
        problem = path_problem(image) or file_problem(base_dir / image if base_dir else image)
        if problem:
            problem = "does not exist" if problem == "no such file" else problem
            report(SpecError(f"{where}: image file {echo(image)} {problem}", file=file,
                             line=image_line, field=at("image")))
            image = None
        else:
            image = str((base_dir / image).resolve() if base_dir else Path(image))

    colour_line, colour = get("colour")
    if colour is not None and colour.lower() not in COLOUR_CHOICES:
        report(SpecError(f"{where}: colour {colour!r} must be one of "
                         f"{', '.join(COLOUR_CHOICES)} ('keep': a deliberate look that matching "
                         "leaves alone)", file=file, line=colour_line, field=at("colour")))
        colour = None

    negative = ", ".join(p for p in (spec.model.negative_prompt, get("negative")[1] or "") if p)
    # A shot timed from its captions never ends before they are read: round its frames up.
    frames = frames_for(duration, spec.output.fps, at_least=dur_text is None and bool(captions))
    # The spec's chosen alternatives replace the plain lines after the shot is timed from them:
    # caption copy never changes a shot's length, so it never changes its render.
    visual = alt_visuals.get(spec.alternatives.get("visual", ""), visual)
    captions = alt_captions.get(spec.alternatives.get("captions", ""), captions)
    return Shot(id=shot_id, position=position, title=title, visual=visual, camera=camera,
                prompt=f"{visual}. Camera: {camera}." if camera != "static" else f"{visual}.",
                negative_prompt=negative, duration=round(frames / spec.output.fps, 4),
                frames=frames, seed=seed, captions=captions, image=image,
                alt_visuals=alt_visuals, alt_captions=alt_captions,
                template=template_name, line=lineno, colour=(colour or "match").lower(),
                narration=narration,
                fixed_duration=dur_text is not None or (template is not None
                                                        and template.duration is not None))


@dataclass(frozen=True)
class Campaign:
    """A validated campaign: its spec, where it came from, and its shots."""

    spec: CampaignSpec
    shots: list[Shot]
    source: str
    sha256: str
    kind: str = "campaign"
    script: str = ""  # the script text the shots were parsed from (stored with the run)
    variant: str = ""  # the variant id (tasks/variants.py) when this is one version of the spec

    @property
    def id(self) -> str:
        return self.spec.id


def load_campaign(path: str | Path) -> Campaign:
    """Load, validate and parse a campaign spec file (YAML or JSON) into shots.

    Every problem of the spec and its script is found before anything is raised: one
    :class:`SpecError`, or :class:`SpecErrors` listing them all in file order.
    """
    path = Path(path)
    problems: list[SpecError] = []
    spec, script_text, first_line = load_campaign_spec(path, problems)
    shots: list[Shot] = []
    if spec is not None:
        script_file = str((path.parent / spec.script_file).resolve()) if spec.script_file \
            else str(path)
        shots = parse_script(script_text, spec, file=script_file, first_line=first_line,
                             base_dir=path.parent, problems=problems)
        with gathered(problems):
            check_colour_reference(spec, shots, file=str(path))
        with gathered(problems):
            check_alternatives(spec, shots, file=str(path))
    if problems:
        raise spec_problems(problems)
    digest = hashlib.sha256(path.read_bytes() + script_text.encode()).hexdigest()
    return Campaign(spec=spec, shots=shots, source=str(path.resolve()), sha256=digest,
                    script=script_text)


def check_colour_reference(spec: CampaignSpec, shots: list[Shot], *, file: str) -> None:
    """``colour.reference`` names a shot of the script, ``hero`` or an image (SpecError)."""
    from tasks.spec import IMAGE_SUFFIXES, load_structured

    reference = spec.colour.reference
    if reference == "hero" or reference.lower().endswith(IMAGE_SUFFIXES):
        return
    if reference not in {shot.id for shot in shots}:
        line = load_structured(Path(file))[1].get(("colour", "reference")) \
            if Path(file).is_file() else None
        raise SpecError(f"{reference!r} is neither a shot of the script "
                        f"({', '.join(s.id for s in shots)}), 'hero' nor an image file",
                        file=file, line=line, field="colour.reference")


def check_alternatives(spec: CampaignSpec, shots: list[Shot], *, file: str) -> None:
    """Every alternative label the spec names is in the script, and at most one label of an axis
    stands for the plain lines (two such labels would be the same variant twice)."""
    named = {"visual": {s for shot in shots for s in shot.alt_visuals},
             "captions": {s for shot in shots for s in shot.alt_captions}}
    where = {"visual": "visual@{}:", "captions": "[locale@{}]"}
    for axis, label in spec.alternatives.items():
        if label not in named[axis]:
            raise SpecError(f"no shot has a {where[axis].format(label)} line", file=file,
                            field=f"alternatives.{axis}")
    if spec.variants is None:
        return
    for label, order in spec.variants.pacing.items():
        paced(shots, order, file=file, field=f"variants.pacing.{label}")
    for axis in ("visual", "captions"):
        plain = [label for label in getattr(spec.variants, axis) if label not in named[axis]]
        if len(plain) > 1:
            raise SpecError(f"labels {plain[0]!r} and {plain[1]!r} have no "
                            f"{where[axis].format('label')} lines in the script, so both are "
                            "its plain lines: keep one of them, or add the alternatives",
                            file=file, field=f"variants.{axis}")
