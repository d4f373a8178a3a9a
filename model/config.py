"""Configs for the Wan2.2-style text-to-video model: one frozen dataclass per component, and presets.

A preset (:class:`ModelPreset`) is everything that decides the architecture and the default
sampling settings of a model family:

- ``t2v-a14b``: two 14B DiT experts split by noise level (high-noise for t >= 875, low-noise
  after), Wan2.1 VAE, umT5-XXL. Defaults from the Wan2.2 release (``wan/configs``): boundary
  0.875, shift 12, guidance 4.0 (high-noise) / 3.0 (low-noise), 40 steps, 81 frames at 16 fps,
  1280x720.
- ``ti2v-5b``: one 5B DiT (dim 3072, 30 layers, 48 channels) on the Wan2.2 VAE (z_dim 48, 4x16x16
  compression). Text-to-video, or image-to-video: the photo's latent is the first latent frame,
  its tokens get t = 0, and it is pasted back after every step. 50 steps, shift 5, guidance 5,
  121 frames at 24 fps, 1280x704 (``wan/configs/wan_ti2v_5B.py``).
- ``i2v-a14b``: two 14B experts like T2V-A14B, 36 input channels (16 noise + 4 mask + 16 image
  latent through the Wan2.1 VAE); boundary 0.900, shift 5, guidance 3.5/3.5, 40 steps, 81 frames
  at 16 fps, size from the photo's aspect within 1280x720 (``wan/configs/wan_i2v_A14B.py``).
- ``tiny``, ``tiny-ti2v``, ``tiny-i2v``: the same architectures at toy sizes (the diffusers test
  sizes), random weights with a fixed seed; run in seconds on a CPU. For tests and smoke runs.

Facts: docs/reference/wan22-model-facts.md and docs/reference/wan22-image-models.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.errors import ConfigError

# Wan2.2 `wan/configs/shared_config.py`: the negative prompt used when none is given.
DEFAULT_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)

# Wan2.1 VAE latent statistics (Wan2.1 `wan/modules/vae.py`, equal to diffusers' defaults).
WAN21_LATENTS_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                      0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
WAN21_LATENTS_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                     3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)
# Wan2.2 VAE latent statistics (Wan2.2 `wan/modules/vae2_2.py`, ``Wan2_2_VAE``).
WAN22_LATENTS_MEAN = (-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
                      -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
                      -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
                      -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
                      -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
                      0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667)
WAN22_LATENTS_STD = (0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
                     0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
                     0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
                     0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
                     0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
                     0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744)

# The original release's ``model_type`` per DiT (Wan2.2 ``wan/modules/model.py``); s2v and
# animate need inputs (audio, pose) this package does not take.
DIT_MODEL_TYPES = ("t2v", "ti2v", "i2v")


@dataclass(frozen=True)
class DiTConfig:
    """One DiT expert. Defaults: a T2V-A14B expert (Wan2.2 `wan/configs/wan_t2v_A14B.py`)."""

    dim: int = 5120
    num_heads: int = 40
    num_layers: int = 40
    ffn_dim: int = 13824
    in_channels: int = 16
    out_channels: int = 16
    text_dim: int = 4096
    freq_dim: int = 256
    eps: float = 1e-6
    patch_size: tuple[int, int, int] = (1, 2, 2)
    rope_max_seq_len: int = 1024
    cross_attn_norm: bool = True

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ConfigError(f"DiT dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.head_dim % 2:
            raise ConfigError(f"DiT head_dim {self.head_dim} must be even for rotary embeddings")

    @classmethod
    def from_diffusers(cls, config: dict) -> DiTConfig:
        """From a diffusers ``transformer/config.json`` (``WanTransformer3DModel``).

        Wan2.2's image-conditioned DiTs (TI2V-5B: 48 channels; I2V-A14B: 36 input channels) are
        plain DiTs; only Wan2.1's I2V, with its CLIP image cross-attention, is refused.
        """
        if config.get("image_dim") or config.get("added_kv_proj_dim"):
            raise ConfigError("this DiT has a CLIP image cross-attention (a Wan2.1 I2V "
                              "checkpoint), which Wan2.2 dropped; use Wan2.2 I2V-A14B or TI2V-5B")
        heads = config["num_attention_heads"]
        return cls(dim=heads * config["attention_head_dim"], num_heads=heads,
                   num_layers=config["num_layers"], ffn_dim=config["ffn_dim"],
                   in_channels=config["in_channels"],
                   out_channels=config.get("out_channels") or config["in_channels"],
                   text_dim=config["text_dim"], freq_dim=config["freq_dim"], eps=config["eps"],
                   patch_size=tuple(config["patch_size"]),
                   rope_max_seq_len=config.get("rope_max_seq_len", 1024),
                   cross_attn_norm=config.get("cross_attn_norm", True))

    @classmethod
    def from_original(cls, config: dict) -> DiTConfig:
        """From an original release ``config.json`` (``WanModel``: ``high_noise_model/`` of the
        A14B models, the checkpoint folder itself for TI2V-5B)."""
        if config.get("model_type", "t2v") not in DIT_MODEL_TYPES:
            raise ConfigError(f"model_type {config.get('model_type')!r} is not supported; "
                              f"checkpoints of type {', '.join(DIT_MODEL_TYPES)} load")
        return cls(dim=config["dim"], num_heads=config["num_heads"],
                   num_layers=config["num_layers"], ffn_dim=config["ffn_dim"],
                   in_channels=config.get("in_dim", 16), out_channels=config.get("out_dim", 16),
                   text_dim=config.get("text_dim", 4096), freq_dim=config.get("freq_dim", 256),
                   eps=config.get("eps", 1e-6), patch_size=tuple(config.get("patch_size", (1, 2, 2))),
                   cross_attn_norm=config.get("cross_attn_norm", True))

    @classmethod
    def from_json_file(cls, path: Path) -> DiTConfig:
        """Reads either layout's config.json (diffusers names ``num_attention_heads``)."""
        config = json.loads(Path(path).read_text())
        return cls.from_diffusers(config) if "num_attention_heads" in config \
            else cls.from_original(config)


@dataclass(frozen=True)
class VAEConfig:
    """A Wan causal 3D VAE. Defaults: the released Wan2.1 VAE (8x spatial, 4x temporal).

    ``is_residual`` with ``patch_size`` 2 is the Wan2.2 VAE (``model/vae22.py``): a 2x2 patchify
    in front, residual down/up blocks with parameter-free space/time-to-channel shortcuts, and a
    decoder of its own width (``decoder_base_dim``).
    """

    base_dim: int = 96
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temporal_downsample: tuple[bool, ...] = (False, True, True)
    latents_mean: tuple[float, ...] = WAN21_LATENTS_MEAN
    latents_std: tuple[float, ...] = WAN21_LATENTS_STD
    is_residual: bool = False
    patch_size: int = 1
    decoder_base_dim: int | None = None  # None: base_dim

    @property
    def spatial_factor(self) -> int:
        return 2 ** (len(self.dim_mult) - 1) * self.patch_size

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(self.temporal_downsample)

    @property
    def decoder_dim(self) -> int:
        return self.decoder_base_dim or self.base_dim

    @property
    def image_channels(self) -> int:
        """Channels the encoder takes and the decoder gives: RGB, patchified."""
        return 3 * self.patch_size ** 2

    def __post_init__(self) -> None:
        if len(self.latents_mean) != self.z_dim or len(self.latents_std) != self.z_dim:
            raise ConfigError(f"VAE latents_mean/latents_std need {self.z_dim} values each")
        if self.patch_size not in (1, 2):
            raise ConfigError(f"VAE patch_size must be 1 or 2, got {self.patch_size}")
        if self.patch_size != 1 and not self.is_residual:
            raise ConfigError("a patchified VAE (patch_size 2) is the Wan2.2 VAE: set is_residual")

    @classmethod
    def from_diffusers(cls, config: dict) -> VAEConfig:
        """From a diffusers ``vae/config.json`` (``AutoencoderKLWan``, Wan2.1 or Wan2.2)."""
        if config.get("attn_scales"):
            raise ConfigError("VAE attn_scales other than [] are not supported")
        patch = config.get("patch_size") or 1
        for name in ("in_channels", "out_channels"):
            if config.get(name, 3 * patch ** 2) != 3 * patch ** 2:
                raise ConfigError(f"VAE {name} {config[name]} does not fit RGB with patch_size "
                                  f"{patch} (expected {3 * patch ** 2})")
        return cls(base_dim=config["base_dim"], z_dim=config["z_dim"],
                   dim_mult=tuple(config["dim_mult"]), num_res_blocks=config["num_res_blocks"],
                   temporal_downsample=tuple(config["temperal_downsample"]),
                   latents_mean=tuple(config["latents_mean"]),
                   latents_std=tuple(config["latents_std"]),
                   is_residual=bool(config.get("is_residual", False)), patch_size=patch,
                   decoder_base_dim=config.get("decoder_base_dim"))


# The Wan2.2 VAE as released with TI2V-5B (``Wan2_2_VAE``: c_dim 160, dec_dim 256, z_dim 48).
WAN22_VAE = VAEConfig(base_dim=160, decoder_base_dim=256, z_dim=48, is_residual=True,
                      patch_size=2, latents_mean=WAN22_LATENTS_MEAN,
                      latents_std=WAN22_LATENTS_STD)


@dataclass(frozen=True)
class TextEncoderConfig:
    """umT5 encoder (transformers ``UMT5Config`` fields). Defaults: umT5-XXL."""

    vocab_size: int = 256384
    d_model: int = 4096
    d_kv: int = 64
    d_ff: int = 10240
    num_layers: int = 24
    num_heads: int = 64
    relative_attention_num_buckets: int = 32
    text_len: int = 512  # Wan2.2 shared_config.text_len

    def to_transformers(self):
        from transformers import UMT5Config

        return UMT5Config(vocab_size=self.vocab_size, d_model=self.d_model, d_kv=self.d_kv,
                          d_ff=self.d_ff, num_layers=self.num_layers, num_heads=self.num_heads,
                          relative_attention_num_buckets=self.relative_attention_num_buckets,
                          feed_forward_proj="gated-gelu", dropout_rate=0.0,
                          is_encoder_decoder=False, use_cache=False,
                          pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


SAMPLERS = ("unipc", "euler")
# "official": Wan2.2's sigmas from float32(0.999) and integer timesteps (UniPC / Euler);
# "distilled": the step-distilled recipe's timesteps linspace(1000, 0, steps + 1)[:-1], kept as
# floats (Wan2.2-Lightning ``fm_solvers_euler.py``; docs/reference/wan22-speed.md).
SCHEDULES = ("official", "distilled")
# Training-free step caches; "easycache" needs no calibration (docs/reference/wan22-speed.md).
STEP_CACHES = ("off", "easycache")
# EasyCache's published Wan2.2 thresholds: 0.06 for T2V, 0.05 for TI2V and I2V (image-conditioned
# presets carry the latter in their SamplingSettings).
EASYCACHE_T2V_THRESHOLD = 0.06
EASYCACHE_IMAGE_THRESHOLD = 0.05


@dataclass(frozen=True)
class SamplingSettings:
    """How a clip is sampled: the one home of these defaults (spec, request and CLI take theirs
    from a preset's instance of this class).

    Defaults: T2V-A14B (Wan2.2 ``wan/configs/wan_t2v_A14B.py``,
    docs/reference/wan22-model-facts.md).
    """

    steps: int = 40
    shift: float = 12.0
    guidance_high: float = 4.0  # high-noise expert (t >= boundary): Wan2.2 sample_guide_scale[1]
    guidance_low: float = 3.0   # low-noise expert: Wan2.2 sample_guide_scale[0]
    sampler: str = "unipc"      # unipc or euler
    schedule: str = "official"  # official or distilled (SCHEDULES)
    step_cache: str = "off"     # off or easycache (STEP_CACHES); never with a distilled schedule
    cache_threshold: float = EASYCACHE_T2V_THRESHOLD

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"sampling steps must be >= 1, got {self.steps}")
        if self.shift <= 0:
            raise ConfigError(f"sampling shift must be > 0, got {self.shift}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler {self.sampler!r} unknown; choose one of {SAMPLERS}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule {self.schedule!r} unknown; choose one of {SCHEDULES}")
        if self.step_cache not in STEP_CACHES:
            raise ConfigError(f"step_cache {self.step_cache!r} unknown; choose one of "
                              f"{STEP_CACHES}")
        if self.cache_threshold <= 0:
            raise ConfigError(f"cache_threshold must be > 0, got {self.cache_threshold}")
        # A distilled model's few steps each change the sample a lot: reusing one would skip a
        # quarter of the work and blur the clip (docs/reference/wan22-speed.md, caveats).
        if self.step_cache != "off" and self.schedule == "distilled":
            raise ConfigError("step_cache cannot be combined with distilled sampling (the 'fast' "
                              "preset): drop step_cache, or sample with the official schedule")

    @property
    def forwards_per_step(self) -> int:
        """DiT forwards per step: guidance 1 on both experts needs no unconditional pass."""
        return 1 if self.guidance_high == 1.0 and self.guidance_low == 1.0 else 2

    def override(self, **values: object) -> SamplingSettings:
        """These settings with every value that is not None replaced (None: keep the default)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


# The published 4-step distilled recipe (Wan2.2-Lightning, LightX2V; docs/reference/wan22-speed.md):
# Euler, shift 5, sigmas 1.0 / 0.9375 / 0.8333 / 0.625, steps 1-2 on the high-noise expert and
# 3-4 on the low-noise one (boundary 0.875), guidance 1 (no unconditional pass). It needs the
# distill LoRAs loaded (``model.loras``); on the base weights it gives a blurred clip.
FAST_SAMPLING = SamplingSettings(steps=4, shift=5.0, guidance_high=1.0, guidance_low=1.0,
                                 sampler="euler", schedule="distilled")
SAMPLING_PRESETS = ("default", "fast")  # default: the model preset's own (official) settings


def sampling_settings(base: SamplingSettings, preset: str | None = None,
                      **overrides: object) -> SamplingSettings:
    """Sampling for a render: ``base`` (the model preset's own) or a named sampling preset
    (``fast``), then every override that is not None. Raises ConfigError on an unknown name."""
    if preset in (None, "default"):
        chosen = base
    elif preset == "fast":
        chosen = FAST_SAMPLING
    else:
        raise ConfigError(f"sampling preset {preset!r} unknown; choose one of {SAMPLING_PRESETS}")
    return chosen.override(**overrides)


EXPERT_NAMES = ("high", "low")


@dataclass(frozen=True)
class LoraSettings:
    """One LoRA file merged into one or both experts (``model.loras`` in a spec).

    ``path``: a .safetensors file in any of the three published layouts (model/lora.py);
    ``strength`` multiplies its alpha/rank scale; ``experts``: "high" and/or "low".
    """

    path: str
    strength: float = 1.0
    experts: tuple[str, ...] = EXPERT_NAMES

    def __post_init__(self) -> None:
        if not self.experts or any(e not in EXPERT_NAMES for e in self.experts):
            raise ConfigError(f"LoRA {self.path}: experts {list(self.experts)} must name "
                              f"'high' and/or 'low'")
        if len(set(self.experts)) != len(self.experts):
            raise ConfigError(f"LoRA {self.path}: an expert is listed twice in {list(self.experts)}")


# How a preset's DiT sees a photo (docs/reference/wan22-image-models.md):
FIRST_LATENT = "first-latent"    # TI2V: the photo's latent is latent frame 0 (t = 0 there, pasted
                                 # back after every step); without a photo, text-to-video
MASK_CHANNELS = "mask-channels"  # I2V: 4 mask + z image-latent channels beside the noise; a photo
                                 # is required
IMAGE_CONDITIONINGS = (FIRST_LATENT, MASK_CHANNELS)


@dataclass(frozen=True)
class ModelPreset:
    """A model family: architecture of every component plus default render settings."""

    name: str
    dit: DiTConfig
    vae: VAEConfig
    text: TextEncoderConfig
    two_experts: bool = True
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    boundary: float = 0.875         # x num_train_timesteps; Wan2.2 t2v_A14B.boundary
    num_train_timesteps: int = 1000
    frames: int = 81
    fps: int = 16
    width: int = 1280
    height: int = 720
    default_negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    random_init_seed: int | None = None  # set: weights are random (tiny), no weights folder needed
    # The sizes the model was trained for (empty: any multiple of its cell, as for the image
    # presets, whose size follows the photo's aspect), and the most DiT tokens one clip may have:
    # attention time and memory grow with their square, so this is the budget a size and length
    # must fit (t2v-a14b: 720p x 81 frames = 75,600 tokens, docs/reference/wan22-model-facts.md).
    sizes: tuple[tuple[int, int], ...] = ()
    max_tokens: int = 75_600
    image_conditioning: str | None = None  # None (text-to-video), FIRST_LATENT or MASK_CHANNELS
    # GPU memory (GB) a render needs with offload on; `auto` picks the model only with this free.
    # A14B: >= 80 GB with expert offload and bf16 (wan22-model-facts.md); TI2V-5B: 24 GB with
    # offload and the text encoder off the GPU while sampling (wan22-image-models.md).
    min_gpu_gb: float = 80.0

    def __post_init__(self) -> None:
        if self.image_conditioning not in (None, *IMAGE_CONDITIONINGS):
            raise ConfigError(f"preset {self.name}: image_conditioning "
                              f"{self.image_conditioning!r} unknown")

    @property
    def needs_image(self) -> bool:
        """True when every render needs a photo (I2V); TI2V renders text alone too."""
        return self.image_conditioning == MASK_CHANNELS

    def expected_in_channels(self) -> int:
        """DiT input channels this preset's conditioning implies for its VAE's latent."""
        z = self.vae.z_dim
        if self.image_conditioning == MASK_CHANNELS:
            return z + self.vae.temporal_factor + z  # noise, mask (one per frame of a latent), image
        return z

    def with_dit(self, dit: DiTConfig) -> ModelPreset:
        return replace(self, dit=dit)

    def tokens(self, width: int, height: int, frames: int) -> int:
        """DiT tokens of a clip: latent frames x latent rows x latent columns, after patching."""
        _, ph, pw = self.dit.patch_size
        cell = self.vae.spatial_factor
        latent_frames = (frames - 1) // self.vae.temporal_factor + 1
        return latent_frames * (height // cell // ph) * (width // cell // pw)

    def check_size(self, width: int, height: int, frames: int) -> None:
        """Raise ConfigError unless the model can render ``width`` x ``height`` x ``frames``."""
        if self.sizes and (width, height) not in self.sizes:
            raise ConfigError(f"{width}x{height}: preset {self.name!r} renders "
                              f"{', '.join(f'{w}x{h}' for w, h in self.sizes)}")
        tokens = self.tokens(width, height, frames)
        if tokens > self.max_tokens:
            raise ConfigError(f"{width}x{height} x {frames} frames is {tokens:,} tokens for preset "
                              f"{self.name!r}, over its budget of {self.max_tokens:,} (time and "
                              "memory grow with the square): make it smaller or shorter")


T2V_A14B = ModelPreset(name="t2v-a14b", dit=DiTConfig(), vae=VAEConfig(), text=TextEncoderConfig(),
                       sizes=((1280, 720), (720, 1280), (832, 480), (480, 832)))

# Wan2.2 `wan/configs/wan_ti2v_5B.py`: one DiT, so no boundary (every step is "high"). Its token
# budget is its own 1280x704 x 121 frames: 31 x 22 x 40 = 27,280 tokens; a photo's size (the
# photo's aspect within that area) never exceeds it.
TI2V_5B = ModelPreset(
    name="ti2v-5b",
    dit=DiTConfig(dim=3072, num_heads=24, num_layers=30, ffn_dim=14336, in_channels=48,
                  out_channels=48),
    vae=WAN22_VAE, text=TextEncoderConfig(), two_experts=False,
    sampling=SamplingSettings(steps=50, shift=5.0, guidance_high=5.0, guidance_low=5.0,
                              cache_threshold=EASYCACHE_IMAGE_THRESHOLD),
    boundary=0.0, frames=121, fps=24, width=1280, height=704,
    image_conditioning=FIRST_LATENT, min_gpu_gb=24.0, max_tokens=27_280,
)

# Wan2.2 `wan/configs/wan_i2v_A14B.py`: sample_guide_scale (3.5, 3.5), boundary 0.900, shift 5.0.
I2V_A14B = ModelPreset(
    name="i2v-a14b", dit=DiTConfig(in_channels=36, out_channels=16), vae=VAEConfig(),
    text=TextEncoderConfig(),
    sampling=SamplingSettings(steps=40, shift=5.0, guidance_high=3.5, guidance_low=3.5,
                              cache_threshold=EASYCACHE_IMAGE_THRESHOLD),
    boundary=0.900, image_conditioning=MASK_CHANNELS,
)

# Toy sizes, as in diffusers' own Wan tests (dim 24, 2 heads, 2 layers, ffn 32, text_dim 32; VAE
# base_dim 3). Byte-level tokenizer: 256 bytes + pad/eos/unk.
_TINY_DIT = DiTConfig(dim=24, num_heads=2, num_layers=2, ffn_dim=32, text_dim=32, freq_dim=256)
_TINY_TEXT = TextEncoderConfig(vocab_size=259, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                               num_heads=4)
TINY = ModelPreset(
    name="tiny",
    dit=_TINY_DIT,
    vae=VAEConfig(base_dim=3, dim_mult=(1, 1, 1, 1), num_res_blocks=1),
    text=_TINY_TEXT,
    frames=9, fps=16, width=64, height=64,
    default_negative_prompt="",
    random_init_seed=0, min_gpu_gb=0.0,
    max_tokens=8_192,  # a forward at 8,190 tokens takes ~0.2 s on a CPU (wan22-model-facts.md)
)
# The TI2V and I2V-A14B architectures at toy sizes (a Wan2.2 VAE of width 4 and 12 latent
# channels; a Wan2.1 VAE of width 3): image-to-video smoke runs with no weights folder.
_TINY_VAE22 = VAEConfig(base_dim=4, decoder_base_dim=4, z_dim=12, dim_mult=(1, 1, 1, 1),
                        num_res_blocks=1, is_residual=True, patch_size=2,
                        latents_mean=(0.0,) * 12, latents_std=(1.0,) * 12)
TINY_TI2V = replace(TI2V_5B, name="tiny-ti2v",
                    dit=replace(_TINY_DIT, in_channels=12, out_channels=12), vae=_TINY_VAE22,
                    text=_TINY_TEXT, sampling=replace(TI2V_5B.sampling, steps=4),
                    frames=9, fps=24, width=64, height=64, default_negative_prompt="",
                    random_init_seed=0, min_gpu_gb=0.0, max_tokens=TINY.max_tokens)
TINY_I2V = replace(I2V_A14B, name="tiny-i2v", dit=replace(_TINY_DIT, in_channels=36),
                   vae=TINY.vae, text=_TINY_TEXT,
                   sampling=replace(I2V_A14B.sampling, steps=4), frames=9, width=64, height=64,
                   default_negative_prompt="", random_init_seed=0, min_gpu_gb=0.0,
                   max_tokens=TINY.max_tokens)

PRESETS: dict[str, ModelPreset] = {p.name: p for p in (T2V_A14B, TI2V_5B, I2V_A14B, TINY,
                                                       TINY_TI2V, TINY_I2V)}


def get_preset(name: str) -> ModelPreset:
    """The preset called ``name``; raises ConfigError naming the known presets otherwise."""
    if name in PRESETS:
        return PRESETS[name]
    raise ConfigError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
