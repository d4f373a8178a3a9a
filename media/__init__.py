"""What every stage shares: video files in and out, fonts, locales and colours.

    media.video     probe, read_frames, FrameWriter, write_video, run_ffmpeg (the bundled ffmpeg)
    media.fonts     the project's font folder, the family per locale, a font that draws a text
    media.locales   the one locale parser, and each locale's caption rules
    media.colors    hex colours and text contrast
    media.images    product photos: read, fitted to a frame (the one crop rule), compared with one
    media.synthetic synthetic clips for tests and benchmarks

It imports nothing above ``common``.
"""

from media.colors import contrast_ratio, parse_hex_color
from media.fonts import default_fonts_dir, font_for_locale, pick_font
from media.images import Fidelity, fit_image, frame_fidelity, load_image
from media.locales import LocaleRules, is_locale, iso639_2, language, rules_for, split_locale
from media.video import FrameWriter, VideoInfo, ffmpeg_exe, probe, read_frames, write_video

__all__ = [
    "Fidelity", "FrameWriter", "LocaleRules", "VideoInfo", "contrast_ratio", "default_fonts_dir",
    "ffmpeg_exe", "fit_image", "font_for_locale", "frame_fidelity", "is_locale", "iso639_2",
    "language", "load_image", "parse_hex_color", "pick_font", "probe", "read_frames", "rules_for",
    "split_locale", "write_video",
]
