"""Phantom dataset: labels.jsonl + DICOM files (read with pydicom), as written by `anofair phantoms`.

Every model sees the same display rendering of a radiograph (see `display01`), which the runtime must repeat:
modality LUT, then the file's VOI window if it has one (else the stored value range), then MONOCHROME1 inverted,
so that 0 is black (air) and 1 is white (bone), as a radiologist's viewer shows it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

FINDINGS = ["nodule", "mass", "effusion", "cardiomegaly", "consolidation", "pneumothorax"]
# The names TorchXRayVision and ChestX-ray14 use, for prompts and the diagnostic classifier's outputs.
FINDING_NAMES = ["Nodule", "Mass", "Effusion", "Cardiomegaly", "Consolidation", "Pneumothorax"]
DETECTOR_CLASSES = FINDINGS + ["text"]
SPLITS = ("train", "val", "test")
IMAGE_SIZE = 256

NORMALISATION_DOC = {
    "rendering": "display01",
    "steps": [
        "stored values -> modality LUT (RescaleSlope/RescaleIntercept when present)",
        "VOI LUT: the first WindowCenter/WindowWidth pair, linear function of PS3.3 C.11.2.1.2.1, to 0..1; "
        "without a window, the stored range 0..2^BitsStored-1 maps linearly to 0..1",
        "MONOCHROME1: v -> 1 - v (so 0 is black, 1 is white, as displayed)",
    ],
}


@dataclass
class Record:
    image_id: str
    patient_id: str
    file: str
    split: str
    sex: str
    age: float
    age_group: str
    findings: list[dict[str, Any]]
    text_boxes: list[dict[str, Any]] = field(default_factory=list)
    burned_in: bool = False
    rows: int = IMAGE_SIZE
    columns: int = IMAGE_SIZE
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def male(self) -> int:
        return 1 if self.sex.upper().startswith("M") else 0

    @property
    def old(self) -> int:
        return 1 if self.age_group.strip() == ">=60" else 0

    def finding_vector(self) -> np.ndarray:
        v = np.zeros(len(FINDINGS), dtype=np.float32)
        for f in self.findings:
            if f["label"] in FINDINGS:
                v[FINDINGS.index(f["label"])] = 1.0
        return v

    def prompt(self) -> str:
        return prompt_for([f["label"] for f in self.findings])


def prompt_for(labels: list[str]) -> str:
    """"A chest X-ray showing {finding}." with the findings in catalogue order, "No Finding" when none."""
    present = [FINDING_NAMES[i] for i, name in enumerate(FINDINGS) if name in set(labels)]
    return f"A chest X-ray showing {', '.join(present) if present else 'No Finding'}."


def load_records(data_dir: Path) -> list[Record]:
    records = []
    with open(data_dir / "labels.jsonl") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            records.append(
                Record(
                    image_id=str(r["image_id"]),
                    patient_id=str(r["patient_id"]),
                    file=r["file"],
                    split=r["split"],
                    sex=r["sex"],
                    age=float(r.get("age", 0)),
                    age_group=r["age_group"],
                    findings=list(r.get("findings", [])),
                    text_boxes=list(r.get("text_boxes", [])),
                    burned_in=bool(r.get("burned_in", False)),
                    rows=int(r.get("rows", IMAGE_SIZE)),
                    columns=int(r.get("columns", IMAGE_SIZE)),
                    raw=r,
                )
            )
    return records


def _first(value: Any) -> float:
    if isinstance(value, (str, bytes, int, float)):
        return float(value)
    return float(list(value)[0])  # a multi-valued VOI window: the first pair is the default


def display01(ds: Any) -> np.ndarray:
    """The display rendering described in NORMALISATION_DOC, as float32 [rows, columns] in 0..1."""
    x = ds.pixel_array.astype(np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    x = x * slope + intercept
    if "WindowCenter" in ds and "WindowWidth" in ds:
        c = _first(ds.WindowCenter)
        w = max(_first(ds.WindowWidth), 1.0)
        y = ((x - (c - 0.5)) / (w - 1.0) + 0.5) if w > 1 else (x > c).astype(np.float64)
    else:
        bits = int(getattr(ds, "BitsStored", 16))
        y = x / float(2**bits - 1)
    y = np.clip(y, 0.0, 1.0)
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        y = 1.0 - y
    return y.astype(np.float32)


def resize01(img: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    if img.shape == (size, size):
        return img
    t = torch.from_numpy(img)[None, None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


@dataclass
class PhantomSet:
    """All images of one split in memory (display01, IMAGE_SIZE square) with their records."""

    records: list[Record]
    images: np.ndarray  # [N, S, S] float32 0..1
    scale: np.ndarray  # [N, 2] x and y factors from file pixels to IMAGE_SIZE pixels

    def __len__(self) -> int:
        return len(self.records)

    def boxes(self, i: int, include_text: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Boxes in IMAGE_SIZE pixels and their detector class indices."""
        r = self.records[i]
        sx, sy = self.scale[i]
        boxes, classes = [], []
        for f in r.findings:
            if f["label"] in FINDINGS:
                x0, y0, x1, y1 = f["box"]
                boxes.append([x0 * sx, y0 * sy, x1 * sx, y1 * sy])
                classes.append(FINDINGS.index(f["label"]))
        if include_text:
            for t in r.text_boxes:
                x0, y0, x1, y1 = t["box"]
                boxes.append([x0 * sx, y0 * sy, x1 * sx, y1 * sy])
                classes.append(len(FINDINGS))
        return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(classes, dtype=np.int64)

    def labels(self, attr: str) -> np.ndarray:
        if attr == "male":
            return np.array([r.male for r in self.records], dtype=np.float32)
        if attr == "old":
            return np.array([r.old for r in self.records], dtype=np.float32)
        if attr == "findings":
            return np.stack([r.finding_vector() for r in self.records]) if self.records else np.zeros((0, len(FINDINGS)), np.float32)
        raise KeyError(attr)

    def patient_index(self) -> np.ndarray:
        ids = {p: k for k, p in enumerate(sorted({r.patient_id for r in self.records}))}
        return np.array([ids[r.patient_id] for r in self.records], dtype=np.int64)


def load_split(data_dir: Path, split: str, limit: int | None = None, records: list[Record] | None = None) -> PhantomSet:
    records = [r for r in (records if records is not None else load_records(data_dir)) if r.split == split]
    if limit is not None:
        records = records[:limit]
    images = np.zeros((len(records), IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    scale = np.ones((len(records), 2), dtype=np.float32)
    import pydicom  # imported here so a cached set loads where pydicom is absent

    for i, r in enumerate(records):
        ds = pydicom.dcmread(str(data_dir / r.file))
        img = display01(ds)
        scale[i] = (IMAGE_SIZE / img.shape[1], IMAGE_SIZE / img.shape[0])
        images[i] = resize01(img)
    return PhantomSet(records, images, scale)


def load_all(data_dir: Path, limit: int | None = None, cache: Path | None = None) -> dict[str, PhantomSet]:
    """All splits; with `cache`, images come from a file written by write_cache (8-bit, for moving data to
    machines without the DICOM toolchain) instead of the DICOM files."""
    records = load_records(data_dir)
    if cache is not None and cache.exists():
        return _load_cache(cache, records, limit)
    return {s: load_split(data_dir, s, limit, records) for s in SPLITS}


def write_cache(data_dir: Path, path: Path) -> None:
    import lzma

    sets = load_all(data_dir)
    ids = [r.image_id for s in SPLITS for r in sets[s].records]
    images = np.concatenate([sets[s].images for s in SPLITS])
    u8 = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
    header = json.dumps({"ids": ids, "shape": list(u8.shape)}).encode()
    with lzma.open(path, "wb", preset=6) as f:
        f.write(len(header).to_bytes(8, "little") + header + u8.tobytes())


def _load_cache(path: Path, records: list[Record], limit: int | None) -> dict[str, PhantomSet]:
    import lzma

    with lzma.open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        u8 = np.frombuffer(f.read(), dtype=np.uint8).reshape(header["shape"])
    where = {image_id: k for k, image_id in enumerate(header["ids"])}
    out = {}
    for s in SPLITS:
        recs = [r for r in records if r.split == s and r.image_id in where][:limit]
        imgs = np.stack([u8[where[r.image_id]] for r in recs]).astype(np.float32) / 255 if recs else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.float32)
        out[s] = PhantomSet(recs, imgs, np.ones((len(recs), 2), dtype=np.float32))
    return out
