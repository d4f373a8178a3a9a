"""Marking clips as AI-generated, visibly and invisibly, and tracing them back to their run.

Public surface (the flows wire these in this order; signing is always last):

    report = apply_marks(src, dst, payload=payload_from_content_id(content_id), logo=...,
    label_locale=...)
    write_ai_metadata(dst, labelled, AiContentLabel(content_id, producer, model, created_at))
    sign_c2pa(labelled, signed, cert_chain=..., private_key=..., producer=..., content_id=...)
    (flows sign with sign_c2pa_once: the same input gives the same signed bytes on a rerun)
    verify_clip(path) -> {"payload", "found", "bit_confidence", "metadata", "c2pa", ...}

* visible.py    logo overlay and the localized "AI-generated" label (labels.yaml)
* invisible.py  the keyed spread-spectrum luma watermark (48-bit payload + CRC-16)
* metadata.py   the AIGC / AI-content MP4 tags (stream copy)
* provenance.py C2PA manifests: sign, verify, development certificates
* marks.py      one decode/encode pass for all pixel marks; verification of everything
* flow_tasks.py thin Prefect @task wrappers
"""

from tasks.watermark.invisible import (
                                       EMBEDDED_BITS,
                                       PAYLOAD_BYTES,
                                       Detection,
                                       WatermarkConfig,
                                       WatermarkDetector,
                                       WatermarkEmbedder,
                                       detect_watermark,
                                       embedded_bits,
                                       parse_payload,
                                       payload_from_content_id,
                                       read_watermark,
)
from tasks.watermark.marks import MarkReport, apply_marks, verify_clip
from tasks.watermark.metadata import AiContentLabel, read_ai_metadata, write_ai_metadata
from tasks.watermark.provenance import (
                                       C2paStatus,
                                       ProvenanceError,
                                       SigningIdentity,
                                       load_or_create_identity,
                                       local_identity,
                                       make_dev_certificate,
                                       sign_c2pa,
                                       sign_c2pa_once,
                                       verify_c2pa,
)
from tasks.watermark.visible import (
                                       LabelPlacement,
                                       LogoPlacement,
                                       label_for_locale,
                                       load_labels,
                                       render_label,
)

__all__ = [
    "EMBEDDED_BITS", "PAYLOAD_BYTES", "AiContentLabel", "C2paStatus", "Detection",
    "LabelPlacement", "LogoPlacement", "MarkReport", "ProvenanceError", "SigningIdentity",
    "WatermarkConfig", "WatermarkDetector", "WatermarkEmbedder", "apply_marks",
    "detect_watermark", "embedded_bits", "label_for_locale", "load_labels",
    "load_or_create_identity", "local_identity", "make_dev_certificate", "parse_payload",
    "payload_from_content_id", "read_ai_metadata", "read_watermark", "render_label", "sign_c2pa",
    "sign_c2pa_once", "verify_c2pa", "verify_clip", "write_ai_metadata",
]
