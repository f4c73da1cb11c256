"""Cross-checks a built model folder with third-party implementations where they are installed (a CUDA machine's
Python has them; Debian's here does not): transformers' CLIPTokenizer on our tokenizer files, and Python
onnxruntime on every recorded check. `python3 -m anofair_models.crosscheck MODELS_DIR`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .onnx_export import make_input
from .tokenizer import NEGATIVE_PROMPT, Tokenizer

PROMPTS = ["A chest X-ray showing No Finding.", "A chest X-ray showing Nodule, Mass, Effusion, Cardiomegaly, Consolidation, Pneumothorax.",
           NEGATIVE_PROMPT, "", "An unseen sentence: zebra-striped 42 lungs!"]


def check_tokenizer(folder: Path) -> list[str]:
    problems = []
    ours = Tokenizer.load(folder)
    try:
        from transformers import CLIPTokenizer, CLIPTokenizerFast
    except ImportError:
        return ["transformers not installed: tokenizer not cross-checked"]
    for cls in (CLIPTokenizer, CLIPTokenizerFast):
        try:
            tok = cls.from_pretrained(str(folder))
        except Exception as err:  # a loader failure is a finding, not a crash
            problems.append(f"{cls.__name__} cannot load the tokenizer: {err}")
            continue
        for p in PROMPTS:
            theirs = tok(p, padding="max_length", max_length=77, truncation=True)["input_ids"]
            if theirs != ours.encode(p):
                problems.append(f"{cls.__name__} differs on {p!r}: {theirs[:16]} vs {ours.encode(p)[:16]}")
        print(f"{cls.__name__}: checked {len(PROMPTS)} prompts")
    return problems


def check_onnx(models: Path) -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return ["onnxruntime not installed: checks not rerun"]
    problems = []
    for manifest_path in sorted(models.glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        for comp in manifest["models"]:
            sess = ort.InferenceSession(str(manifest_path.parent / comp["file"]), providers=["CPUExecutionProvider"])
            for check in comp["checks"]:
                feeds = {s["name"]: make_input(s).numpy() for s in check["inputs"]}
                outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
                for name, exp in check["outputs"].items():
                    flat = outs[name].reshape(-1)
                    for i, v in exp["samples"]:
                        if abs(flat[i] - v) > check["atol"] + check["rtol"] * abs(v):
                            problems.append(f"{manifest['name']}/{comp['file']} {name}[{i}] {flat[i]} vs {v}")
            print(f"onnxruntime {ort.__version__}: {manifest['name']}/{comp['file']} checked")
    return problems


def main(argv: list[str]) -> int:
    models = Path(argv[0])
    problems = check_tokenizer(models / "inpaint" / "tokenizer") + check_onnx(models)
    for p in problems:
        print("problem", p)
    return 1 if any(not p.endswith("cross-checked") and not p.endswith("not rerun") for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
