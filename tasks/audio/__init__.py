"""Audio stage: each locale's voice-over, a music bed ducked under it, broadcast loudness.

    speech = synthesize("Spring is here. Tea is ready.", "en")     # voices.py: samples + sentence times
    loudness = master_soundtrack(Path("sound.m4a"), duration=9.0, mastering=Mastering(),
                                 work_dir=Path("mix"), voice=track, spans=spans,
                                 music=Path("bed.m4a"), locale="en")   # mix.py: duck, loudnorm, AAC
    mux_soundtrack(Path("clip.mp4"), Path("sound.m4a"), Path("out.mp4"), locale="en")

* sentences.py  narration text -> sentences
* voices.py     the VoiceEngine interface; Piper, Kokoro, espeak-ng, recordings; register_engine
* mix.py        speech key, sidechain ducking, two-pass loudnorm, AAC, mux
* spec.py       the campaign spec's ``audio:`` section
* narrate.py    the stage the flows call: voice-overs (cached), shots timed by the longest
                locale, speech placed in the master's shots, one locale's soundtrack (imported
                from its module: it depends on tasks.script, which imports this package)
"""

from tasks.audio.mix import Mastering, master_soundtrack, mux_soundtrack, speech_key
from tasks.audio.sentences import split_sentences
from tasks.audio.spec import BEDS, AudioSpec
from tasks.audio.voices import (
    Sentence,
    Speech,
    VoiceEngine,
    default_voice,
    describe_voice,
    register_engine,
    synthesize,
)

__all__ = [
    "BEDS", "AudioSpec", "Mastering", "Sentence", "Speech", "VoiceEngine", "default_voice",
    "describe_voice", "master_soundtrack", "mux_soundtrack", "register_engine", "speech_key",
    "split_sentences", "synthesize",
]
